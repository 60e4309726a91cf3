/**
 * The VOD page's Download MP4 (served as an asset: no inline script). The form asks for the MP4;
 * this script sends it without leaving the page (the video keeps playing), says it is being
 * prepared, asks the API every 2 s, and puts the link in its place once the file is there.
 * Without the script the form posts and the page comes back saying the same.
 */
import {asset} from '../web/assets.js'

export const vodDownloadJs = asset(
  '/assets/vod-download.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const section = document.getElementById('download');
  if (!section) return;
  const form = section.querySelector('form');
  const status = document.getElementById('download-status');
  const statusUrl = section.dataset.statusUrl;
  let timer = null;

  function megabytes(bytes) {
    return bytes >= 1e9 ? (bytes / 1e9).toFixed(2) + ' GB' : (bytes / 1e6).toFixed(1) + ' MB';
  }

  function show(state) {
    section.dataset.state = state.state;
    clearTimeout(timer);
    if (state.state === 'ready') {
      if (form) form.hidden = true;
      const link = document.createElement('a');
      link.className = 'button';
      link.id = 'download-link';
      link.href = state.url;
      link.setAttribute('download', '');
      link.textContent = 'Download MP4';
      const size = document.createElement('span');
      size.className = 'muted';
      size.textContent = ' ' + megabytes(state.bytes);
      status.replaceChildren(link, size);
      return;
    }
    if (state.state === 'preparing') {
      if (form) form.hidden = true;
      status.textContent = 'Preparing the MP4… the link appears here when it is ready.';
      timer = setTimeout(check, 2000);
      return;
    }
    if (form) {
      form.hidden = false;
      const button = form.querySelector('button');
      if (button) button.disabled = false;
    }
    status.textContent = state.message || '';
  }

  async function check() {
    try {
      const answer = await fetch(statusUrl, {headers: {accept: 'application/json'}, cache: 'no-store'});
      if (!answer.ok) throw new Error(String(answer.status));
      const state = await answer.json();
      show(state.state === 'none' ? {state: 'none', message: 'The MP4 could not be made. Try again.'} : state);
    } catch {
      timer = setTimeout(check, 5000);
    }
  }

  if (form) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = form.querySelector('button');
      if (button) button.disabled = true;
      status.textContent = 'Asking for the MP4…';
      try {
        const answer = await fetch(form.action, {method: 'POST', headers: {accept: 'application/json'}, body: new URLSearchParams(new FormData(form))});
        const state = await answer.json().catch(() => ({}));
        if (!answer.ok) throw new Error(state.message || 'The MP4 cannot be prepared right now; try again in a moment.');
        show(state);
      } catch (error) {
        show({state: 'none', message: error.message});
      }
    });
  }
  // The page's own words are for a browser without this script ("reload"): this one updates by itself.
  if (section.dataset.state === 'preparing') show({state: 'preparing'});
})();
`,
)

/**
 * clip.js (an asset: the Content-Security-Policy allows no inline script). Under a player it fills
 * the Clip form's start with the player's position as the form opens (a VOD) and puts the focus
 * on the clip's name. On a clip's page it plays the clip's HLS form with hls.js (natively in
 * Safari, the MP4 elsewhere). While the clip is being made it asks every second: once it plays
 * the page is loaded again to show the player; once its MP4 is made (the player already playing)
 * the download link takes the place of the "being made" line, without interrupting it.
 */
import {asset} from '../web/assets.js'

export const clipJs = asset(
  '/assets/clip.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const box = document.getElementById('clip-box');
  if (box) {
    const start = document.getElementById('clip-start');
    const title = document.getElementById('clip-title');
    const player = document.getElementById('video');
    let edited = false;
    if (start) start.addEventListener('input', () => { edited = true; });
    const clock = (seconds) => {
      const s = Math.max(0, Math.floor(seconds));
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = String(s % 60).padStart(2, '0');
      return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + rest : m + ':' + rest;
    };
    box.addEventListener('toggle', () => {
      if (!box.open) return;
      if (start && player && !edited) start.value = clock(player.currentTime || 0);
      if (title) title.focus();
    });
    // Escape closes the form, and the focus goes back to the button.
    box.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && box.open) { box.open = false; box.querySelector('summary').focus(); }
    });
  }

  const clipId = document.body.dataset.clip;
  if (clipId && document.body.dataset.clipStatus === 'pending') {
    const playing = document.body.dataset.clipPlayable === 'true';
    const ask = async () => {
      try {
        const response = await fetch('/api/clips/' + encodeURIComponent(clipId), {cache: 'no-store'});
        const clip = response.ok ? await response.json() : undefined;
        if (clip && clip.status === 'ready' && playing && clip.mp4) {
          const line = document.querySelector('.clip-actions[data-download-name]');
          if (line) {
            const link = document.createElement('a');
            link.className = 'button';
            link.href = clip.mp4;
            link.download = line.dataset.downloadName;
            link.textContent = 'Download MP4';
            line.replaceChildren(link);
            line.classList.remove('muted');
          }
          return;
        }
        if (clip && (clip.status !== 'pending' || (clip.playable && !playing))) { location.reload(); return; }
      } catch {
        // The site is away for a moment: ask again.
      }
      setTimeout(ask, playing ? 500 : 1000);
    };
    setTimeout(ask, playing ? 500 : 1000);
  }

  const video = document.getElementById('clip-video');
  if (video) {
    const url = video.dataset.hls;
    const mp4 = document.querySelector('.clip-actions a[download]');
    const clip = (window.shingClip = {hls: null, errors: []});
    if (window.Hls && window.Hls.isSupported()) {
      const hls = new window.Hls();
      clip.hls = hls;
      hls.on(window.Hls.Events.ERROR, (_e, data) => { clip.errors.push({details: data.details, fatal: data.fatal}); });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
    } else if (mp4) {
      video.src = mp4.href;
    }
  }
})();
`,
)

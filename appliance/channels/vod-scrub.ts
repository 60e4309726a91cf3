/**
 * The VOD page's scrub strip: a thin bar under the player that shows, under the pointer (or the
 * finger, or the keyboard's next position), the preview tile of that moment and its time, and
 * seeks there on a click, a tap or the arrow keys. The tiles come from the VOD's sprite sheets
 * through their WebVTT map (vod.previews). The native controls stay as they are; the strip is
 * there only when the VOD has previews, and shows once the map has loaded.
 */
import {asset} from '../web/assets.js'
import {escapeHtml} from '../web/html.js'

/** The strip under the video; the script (scrubJs) finds it by its ids. */
export function scrubStrip(previews: {vtt: string} | undefined): string {
  if (previews === undefined) return ''
  return `<div class="scrub" id="scrub" data-previews="${escapeHtml(previews.vtt)}" hidden>
<div class="scrub-track" id="scrub-track" role="slider" tabindex="0" aria-label="Seek, with previews" aria-valuemin="0" aria-valuemax="0" aria-valuenow="0" aria-valuetext="0:00"><div class="scrub-played" id="scrub-played"></div></div>
<div class="scrub-preview" id="scrub-preview" aria-hidden="true" hidden><div class="scrub-tile" id="scrub-tile"></div><span class="scrub-time" id="scrub-time"></span></div>
</div>`
}

export const scrubJs = asset(
  '/assets/scrub.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const strip = document.getElementById('scrub');
  const video = document.getElementById('video');
  if (!strip || !video) return;
  const track = document.getElementById('scrub-track');
  const played = document.getElementById('scrub-played');
  const preview = document.getElementById('scrub-preview');
  const tile = document.getElementById('scrub-tile');
  const label = document.getElementById('scrub-time');
  const mapUrl = new URL(strip.dataset.previews, location.href);
  let cues = [];
  const state = (window.shingScrub = {cues: cues, shown: null});
  /** What showed the preview: 'pointer' or 'key' (each hides it its own way). */
  let shownBy = null;

  /** 00:01:05.000 → 65 */
  function seconds(stamp) {
    const parts = stamp.trim().split(':').map(Number);
    return parts.reduce((total, part) => total * 60 + part, 0);
  }

  /** WebVTT cues whose text is sheet.jpg#xywh=x,y,w,h (the sheet relative to the map). */
  function parse(text) {
    const found = [];
    for (const block of text.replace(/\\r/g, '').split(/\\n\\n+/)) {
      const lines = block.split('\\n');
      const at = lines.findIndex((l) => l.includes('-->'));
      if (at < 0 || !lines[at + 1]) continue;
      const [from, to] = lines[at].split('-->').map((s) => seconds(s.trim().split(/\\s/)[0]));
      const m = /^(.*)#xywh=(\\d+),(\\d+),(\\d+),(\\d+)$/.exec(lines[at + 1].trim());
      if (!m) continue;
      found.push({start: from, end: to, url: new URL(m[1], mapUrl).href, x: +m[2], y: +m[3], w: +m[4], h: +m[5]});
    }
    return found;
  }

  function clock(t) {
    t = Math.max(0, Math.floor(t));
    const h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, s = t % 60;
    return (h > 0 ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + String(s).padStart(2, '0');
  }

  function duration() {
    if (Number.isFinite(video.duration) && video.duration > 0) return video.duration;
    return cues.length > 0 ? cues[cues.length - 1].end : 0;
  }

  function cueAt(t) {
    for (const cue of cues) if (t >= cue.start && t < cue.end) return cue;
    return cues[cues.length - 1];
  }

  /** Shows the tile of moment t above the strip, centred on it (kept inside the strip). */
  function show(t) {
    const total = duration();
    if (!total) return;
    t = Math.min(Math.max(0, t), total);
    const cue = cueAt(t);
    if (!cue) return;
    tile.style.width = cue.w + 'px';
    tile.style.height = cue.h + 'px';
    tile.style.backgroundImage = 'url("' + cue.url + '")';
    tile.style.backgroundPosition = '-' + cue.x + 'px -' + cue.y + 'px';
    label.textContent = clock(t);
    preview.hidden = false;
    const width = track.clientWidth;
    const left = Math.min(Math.max(0, (t / total) * width - cue.w / 2), Math.max(0, width - cue.w));
    preview.style.left = left + 'px';
    state.shown = {url: cue.url, x: cue.x, y: cue.y, time: t};
  }

  function hide() {
    preview.hidden = true;
    state.shown = null;
    shownBy = null;
  }

  function timeAtPointer(event) {
    const box = track.getBoundingClientRect();
    return ((event.clientX - box.left) / box.width) * duration();
  }

  function seek(t) {
    const total = duration();
    if (!total) return;
    video.currentTime = Math.min(Math.max(0, t), Math.max(0, total - 0.1));
    update();
  }

  function update() {
    const total = duration();
    const now = video.currentTime || 0;
    played.style.width = total ? (Math.min(1, now / total) * 100).toFixed(2) + '%' : '0';
    track.setAttribute('aria-valuemax', String(Math.round(total)));
    track.setAttribute('aria-valuenow', String(Math.round(now)));
    track.setAttribute('aria-valuetext', clock(now) + ' of ' + clock(total));
  }

  // A mouse shows the preview on hover; a finger or a pen while it is down; both seek where they let go.
  let dragging = false;
  track.addEventListener('pointermove', (event) => {
    if (event.pointerType !== 'mouse' && !dragging) return;
    shownBy = 'pointer';
    show(timeAtPointer(event));
  });
  // Leaving the strip hides what the pointer showed (not what the keys show: the strip keeps its focus).
  track.addEventListener('pointerleave', () => { if (!dragging && shownBy === 'pointer') hide(); });
  track.addEventListener('pointerdown', (event) => {
    dragging = true;
    shownBy = 'pointer';
    track.setPointerCapture(event.pointerId);
    show(timeAtPointer(event));
  });
  track.addEventListener('pointerup', (event) => {
    if (!dragging) return;
    dragging = false;
    seek(timeAtPointer(event));
    if (event.pointerType !== 'mouse') setTimeout(hide, 600);
  });
  track.addEventListener('pointercancel', () => { dragging = false; hide(); });

  // The keyboard: the arrows step a tile (Page keys a minute), Home and End; the tile shows meanwhile.
  let keyTimer = null;
  track.addEventListener('keydown', (event) => {
    const step = cues.length > 0 ? cues[0].end - cues[0].start : 5;
    const now = video.currentTime || 0;
    const to = {ArrowRight: now + step, ArrowUp: now + step, ArrowLeft: now - step, ArrowDown: now - step, PageUp: now + 60, PageDown: now - 60, Home: 0, End: duration()}[event.key];
    if (to === undefined) return;
    event.preventDefault();
    shownBy = 'key';
    seek(to);
    show(Math.min(Math.max(0, to), duration()));
    clearTimeout(keyTimer);
    keyTimer = setTimeout(hide, 1500);
  });
  track.addEventListener('blur', hide);
  // The sheets load once, when someone comes near the strip (not for every visit).
  let preloaded = false;
  const preload = () => {
    if (preloaded || cues.length === 0) return;
    preloaded = true;
    for (const url of new Set(cues.map((c) => c.url))) new Image().src = url;
  };
  track.addEventListener('pointerenter', preload);
  track.addEventListener('focus', preload);

  for (const name of ['timeupdate', 'durationchange', 'seeked', 'loadedmetadata']) video.addEventListener(name, update);

  fetch(mapUrl)
    .then((response) => (response.ok ? response.text() : Promise.reject(new Error('previews: ' + response.status))))
    .then((text) => {
      cues = state.cues = parse(text);
      if (cues.length === 0) return;
      strip.hidden = false;
      update();
    })
    .catch(() => { /* no previews: the player's own controls remain */ });
})();
`,
)

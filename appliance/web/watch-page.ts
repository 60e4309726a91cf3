/**
 * /c/<channel>: the watch page. hls.js in low-latency mode with ABR; it shows live/offline and
 * switches by itself when the broadcast starts or ends (it polls the playback API while
 * offline, and falls back to offline when the stream's playlist goes away).
 */
export const HLS_JS_PATH = '/assets/hls.min.js'

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] ?? c)

export function watchPage(options: {siteName: string; channel: string}): string {
  const channel = escapeHtml(options.channel)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${channel} · ${escapeHtml(options.siteName)}</title>
<style>
  body { margin: 0; font: 16px/1.4 system-ui, sans-serif; background: #111; color: #eee; }
  header { display: flex; gap: .75rem; align-items: center; padding: .75rem 1rem; }
  h1 { font-size: 1.1rem; margin: 0; }
  #badge { font-size: .8rem; font-weight: 700; padding: .1rem .5rem; border-radius: .25rem; background: #444; }
  body[data-state="live"] #badge { background: #d22; }
  #quality { margin-left: auto; font-size: .85rem; color: #aaa; }
  main { max-width: 1280px; margin: 0 auto; }
  video { width: 100%; aspect-ratio: 16 / 9; background: #000; display: block; }
  #offline { padding: 3rem 1rem; text-align: center; color: #aaa; }
  body[data-state="live"] #offline, body[data-state="offline"] video { display: none; }
</style>
</head>
<body data-state="loading" data-channel="${channel}">
<header><h1>${channel}</h1><span id="badge">…</span><span id="quality"></span></header>
<main>
  <video id="video" controls muted autoplay playsinline></video>
  <p id="offline">${channel} is offline. This page starts playing by itself when the broadcast begins.</p>
</main>
<script src="${HLS_JS_PATH}"></script>
<script>
(() => {
  const channel = document.body.dataset.channel;
  const video = document.getElementById('video');
  const badge = document.getElementById('badge');
  const quality = document.getElementById('quality');
  let hls = null;
  let poll = null;
  const player = (window.shingPlayer = {state: 'loading', level: null, levels: [], hls: null});

  function setState(state) {
    player.state = state;
    document.body.dataset.state = state;
    badge.textContent = state === 'live' ? 'LIVE' : state === 'offline' ? 'OFFLINE' : '…';
  }

  function stop() {
    if (hls) { hls.destroy(); hls = null; player.hls = null; }
    video.removeAttribute('src');
  }

  function goOffline() {
    stop();
    setState('offline');
    if (!poll) poll = setInterval(check, 3000);
  }

  function play(url) {
    if (poll) { clearInterval(poll); poll = null; }
    setState('live');
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({lowLatencyMode: true, backBufferLength: 30, liveSyncDurationCount: 2});
      player.hls = hls;
      hls.on(window.Hls.Events.MANIFEST_PARSED, (_e, data) => {
        player.levels = data.levels.map((l) => l.height);
        video.play().catch(() => {});
      });
      hls.on(window.Hls.Events.LEVEL_SWITCHED, (_e, data) => {
        const level = hls.levels[data.level];
        player.level = level ? level.height : null;
        quality.textContent = level ? level.height + 'p' : '';
      });
      hls.on(window.Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        // The playlist is gone (404): the broadcast ended or moved; ask the API again.
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) { stop(); check(); return; }
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
        goOffline();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url; // Safari plays (LL-)HLS natively
      video.play().catch(() => {});
    }
  }

  async function check() {
    try {
      const response = await fetch('/api/streams/' + encodeURIComponent(channel) + '/playback', {cache: 'no-store'});
      const body = await response.json();
      if (body.live) { if (!hls) play(body.url); } else goOffline();
    } catch {
      goOffline();
    }
  }

  video.addEventListener('ended', () => check());
  check();
})();
</script>
</body>
</html>
`
}

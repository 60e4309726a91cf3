/**
 * /c/<channel>: the watch page. hls.js in low-latency mode with ABR; it shows live/offline and
 * switches by itself when the broadcast starts or ends (it polls the playback API while
 * offline, and falls back to offline when the stream's playlist goes away). Offline, it links to
 * the last broadcast's VOD; an audio-only broadcast plays under a poster. With `vod` it plays one
 * archived broadcast instead (/c/<channel>/vod/<streamId>).
 */
import {AUDIO_POSTER_PATH, HLS_JS_PATH} from '../web/assets.js'
import {escapeHtml} from '../web/html.js'

export interface WatchPageOptions {
  siteName: string
  channel: string
  /** A version of hls.js's content: its URL changes with it, so browsers may cache it for good. */
  assetVersion?: string
  /** Plays this archived broadcast (its master playlist and when it began) instead of the live one. */
  vod?: {url: string; startedAt: string}
}

export function watchPage(options: WatchPageOptions): string {
  const channel = escapeHtml(options.channel)
  const hlsJsUrl = options.assetVersion === undefined ? HLS_JS_PATH : `${HLS_JS_PATH}?v=${encodeURIComponent(options.assetVersion)}`
  const vod = options.vod
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
  #offline a { color: #8cf; }
  #last[hidden] { display: none; }
  body[data-state="live"] #offline, body[data-state="offline"] video { display: none; }
  body[data-state="vod"] #badge { background: #246; }
  body[data-state="vod"] #offline { display: none; }
  a:focus-visible, video:focus-visible { outline: 2px solid #8cf; outline-offset: 2px; }
</style>
</head>
<body data-state="loading" data-channel="${channel}"${vod ? ` data-vod="${escapeHtml(vod.url)}"` : ''}>
<header><h1>${channel}</h1><span id="badge">…</span><span id="quality" aria-live="polite"></span></header>
<main>
  <video id="video" controls muted autoplay playsinline></video>
  <p id="offline">${channel} is offline. This page starts playing by itself when the broadcast begins.<span id="last" hidden><br><a id="last-link" href="">Watch the last broadcast</a></span></p>
</main>
<script src="${escapeHtml(hlsJsUrl)}"></script>
<script>
(() => {
  const channel = document.body.dataset.channel;
  const vodUrl = document.body.dataset.vod;
  const video = document.getElementById('video');
  const badge = document.getElementById('badge');
  const quality = document.getElementById('quality');
  const last = document.getElementById('last');
  const lastLink = document.getElementById('last-link');
  const AUDIO_POSTER = ${JSON.stringify(AUDIO_POSTER_PATH)};
  let hls = null;
  let poll = null;
  const player = (window.shingPlayer = {state: 'loading', level: null, levels: [], hls: null, errors: []});

  function setState(state) {
    player.state = state;
    document.body.dataset.state = state;
    badge.textContent = state === 'live' ? 'LIVE' : state === 'offline' ? 'OFFLINE' : state === 'vod' ? 'REPLAY' : '…';
  }

  /** Audio only: a poster stands where the picture would be. */
  function setAudioOnly(on) {
    player.audioOnly = on;
    if (on) video.poster = AUDIO_POSTER; else video.removeAttribute('poster');
  }

  // The broadcast playing (its streamId), and the timer that asks the API now and then while it plays.
  let current = null;
  let watch = null;
  let checking = null;

  function stop() {
    if (hls) { hls.destroy(); hls = null; player.hls = null; }
    current = null;
    quality.textContent = '';
    player.level = null;
    if (watch) { clearInterval(watch); watch = null; }
    video.removeAttribute('src');
    video.load(); // releases the old source (and resets currentTime)
  }

  function goOffline(vod) {
    stop();
    setState('offline');
    // The broadcast that just ended (or the last one) is there to watch again.
    if (vod) { lastLink.href = vod.page; last.hidden = false; player.lastVod = vod.page; }
    if (!poll) poll = setInterval(check, 3000);
  }

  function play(url, streamId, state) {
    if (poll) { clearInterval(poll); poll = null; }
    current = streamId;
    last.hidden = true;
    setState(state || 'live');
    // A backstop: a player stuck on a gone broadcast (no error, no ENDLIST) notices within this.
    if (!vodUrl) watch = setInterval(check, 15000);
    if (window.Hls && window.Hls.isSupported()) {
      // Catching up at up to 1.5x keeps the player near the live edge (measured: 2.7 s → 1.7 s latency).
      hls = new window.Hls({lowLatencyMode: true, backBufferLength: 30, liveSyncDurationCount: 2, maxLiveSyncPlaybackRate: 1.5});
      player.hls = hls;
      hls.on(window.Hls.Events.MANIFEST_PARSED, (_e, data) => {
        player.levels = data.levels.map((l) => l.height);
        if (data.levels.every((l) => !l.height)) setAudioOnly(true);
        video.play().catch(() => {});
      });
      hls.on(window.Hls.Events.LEVEL_SWITCHED, (_e, data) => {
        const level = hls.levels[data.level];
        player.level = level ? level.height : null;
        quality.textContent = !level ? '' : level.height ? level.height + 'p' : 'audio ' + Math.round(level.bitrate / 1000) + ' kbit/s';
      });
      // #EXT-X-ENDLIST: the broadcast ended (the ingest marks it offline before it closes the playlists).
      hls.on(window.Hls.Events.LEVEL_LOADED, (_e, data) => {
        if (!vodUrl && data.details && data.details.live === false) check();
      });
      hls.on(window.Hls.Events.ERROR, (_e, data) => {
        const status = data.response ? data.response.code : undefined;
        // Kept for whoever debugs a player (the tests print them).
        player.errors.push({details: data.details, fatal: data.fatal, status: status, at: Date.now()});
        if (player.errors.length > 50) player.errors.shift();
        // 404: the relay says the channel is offline; hls.js would try other levels first.
        if (!data.fatal) { if (status === 404) check(); return; }
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

  async function ask() {
    try {
      const response = await fetch('/api/streams/' + encodeURIComponent(channel) + '/playback', {cache: 'no-store'});
      if (response.status === 404) { goOffline(); return; }
      const body = await response.json();
      if (!response.ok) { if (current === null) goOffline(); return; }
      if (!body.live) goOffline(body.vod);
      // Started, or a new broadcast (the streamer reconnected): play it from its start.
      else if (body.streamId !== current) { stop(); setAudioOnly(body.audioOnly === true); play(body.url, body.streamId); }
    } catch {
      // The API is away: a playing broadcast goes on; otherwise show offline and keep asking.
      if (current === null) goOffline();
    }
  }

  /** One question at a time: events may ask together. */
  function check() {
    if (!checking) checking = ask().finally(() => { checking = null; });
    return checking;
  }

  if (vodUrl) {
    play(vodUrl, 'vod', 'vod');
  } else {
    video.addEventListener('ended', () => check());
    check();
  }
})();
</script>
</body>
</html>
`
}

/**
 * The watch page's script (served as an asset: the Content-Security-Policy allows no inline
 * script). It reads the channel, the VOD URL and the audio poster from <body data-…>.
 */
import {asset} from '../web/assets.js'

export const watchJs = asset(
  '/assets/watch.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const channel = document.body.dataset.channel;
  const vodUrl = document.body.dataset.vod;
  const video = document.getElementById('video');
  const badge = document.getElementById('badge');
  const quality = document.getElementById('quality');
  const viewers = document.getElementById('viewers');
  const last = document.getElementById('last');
  const lastLink = document.getElementById('last-link');
  const AUDIO_POSTER = document.body.dataset.audioPoster;
  const realtimeButton = document.getElementById('realtime');
  const note = document.getElementById('player-note');
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

  // Live video straight from a relay's TLS port when the API offers it (the edge then carries
  // none of it); after a failure there, through the edge for a while.
  const DIRECT_PAUSE_MS = 5 * 60 * 1000;
  let directPausedUntil = 0;
  function source(body) {
    const direct = body.direct && Date.now() >= directPausedUntil;
    player.source = direct ? 'direct' : 'edge';
    return direct ? body.direct : body.url;
  }
  /** A failure on the direct source: the next try goes through the edge. True when it was direct. */
  function leaveDirect() {
    if (player.source !== 'direct') return false;
    directPausedUntil = Date.now() + DIRECT_PAUSE_MS;
    player.directFailures = (player.directFailures || 0) + 1;
    return true;
  }

  // Whether the direct source gave a playlist yet; Safari's native player's fallback timer and listeners.
  let directLoaded = false;
  let nativeWatch = null;

  // The broadcast playing (its streamId), and the timer that asks the API now and then while it plays.
  let current = null;
  let watch = null;
  let checking = null;

  // Real time (WHEP): the channel offers it while live (the API names its URL); the viewer chooses
  // it with the Real time button (remembered), and LL-HLS takes over when it fails.
  let rt = null;
  let lastBody = null;
  const realtimeWanted = () => { try { return localStorage.getItem('shing-realtime') === '1'; } catch { return false; } };
  const setRealtimeWanted = (on) => { try { localStorage.setItem('shing-realtime', on ? '1' : '0'); } catch {} };
  const canRealtime = () => typeof window.RTCPeerConnection === 'function';
  function say(text) { note.textContent = text || ''; note.hidden = !text; }
  function showRealtime(url) {
    if (!realtimeButton) return;
    realtimeButton.hidden = !url || !canRealtime();
    realtimeButton.setAttribute('aria-pressed', String(player.mode === 'realtime'));
  }
  function stopRealtime() {
    if (!rt) return;
    const session = rt;
    rt = null;
    clearTimeout(session.timer);
    video.removeEventListener('resize', session.size);
    session.pc.close();
    // Ends the session on the server now (else it ends when the SFU notices the silence).
    if (session.location) fetch(session.location, {method: 'DELETE', keepalive: true}).catch(() => {});
    video.srcObject = null;
  }
  function realtimeFailed(why) {
    if (player.mode !== 'realtime') return;
    player.realtimeErrors = (player.realtimeErrors || 0) + 1;
    player.realtimeError = why;
    stopRealtime();
    const body = lastBody;
    current = null;
    if (watch) { clearInterval(watch); watch = null; }
    say('Real time is not available now (' + why + '): playing with the usual delay.');
    if (body) { play(source(body), body.streamId); showRealtime(body.realtime); }
  }
  function playRealtime(body) {
    if (poll) { clearInterval(poll); poll = null; }
    current = body.streamId;
    last.hidden = true;
    setState('live');
    player.mode = 'realtime';
    player.source = 'realtime';
    quality.textContent = '';
    if (!watch) watch = setInterval(check, 15000);
    const pc = new RTCPeerConnection();
    const session = (rt = {pc, location: null, timer: null, size: null});
    player.realtimeState = 'connecting';
    pc.addTransceiver('video', {direction: 'recvonly'});
    pc.addTransceiver('audio', {direction: 'recvonly'});
    const stream = new MediaStream();
    pc.addEventListener('track', (event) => {
      stream.addTrack(event.track);
      video.srcObject = stream;
      video.play().catch(() => {});
    });
    // The picture's height, as LL-HLS shows its rendition's.
    const size = () => { if (rt === session && video.videoHeight) quality.textContent = video.videoHeight + 'p'; };
    video.addEventListener('resize', size);
    session.size = size;
    pc.addEventListener('connectionstatechange', () => {
      if (rt !== session) return;
      player.realtimeState = pc.connectionState;
      if (pc.connectionState === 'connected') clearTimeout(session.timer);
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') realtimeFailed('the connection failed');
    });
    session.timer = setTimeout(() => { if (rt === session && pc.connectionState !== 'connected') realtimeFailed('no connection within 10 s'); }, 10000);
    (async () => {
      await pc.setLocalDescription(await pc.createOffer());
      const response = await fetch(body.realtime, {method: 'POST', headers: {'content-type': 'application/sdp'}, body: pc.localDescription.sdp});
      const text = await response.text();
      if (rt !== session) return;
      if (response.status !== 201) throw new Error(text.trim() || 'HTTP ' + response.status);
      session.location = response.headers.get('location');
      await pc.setRemoteDescription({type: 'answer', sdp: text});
    })().catch((error) => { if (rt === session) realtimeFailed(error.message); });
  }
  /** A broadcast starts playing: in real time when the viewer chose it and the channel offers it. */
  function begin(body) {
    lastBody = body;
    say('');
    if (body.realtime && realtimeWanted() && canRealtime()) playRealtime(body);
    else play(source(body), body.streamId);
    showRealtime(body.realtime);
  }
  if (realtimeButton) {
    realtimeButton.addEventListener('click', () => {
      const body = lastBody;
      if (!body) return;
      const on = player.mode !== 'realtime';
      setRealtimeWanted(on);
      stop();
      if (on) begin({...body}); else { say(''); play(source(body), body.streamId); showRealtime(body.realtime); }
    });
  }

  function stop() {
    stopRealtime();
    player.mode = null;
    if (hls) { hls.destroy(); hls = null; player.hls = null; }
    current = null;
    quality.textContent = '';
    player.level = null;
    if (watch) { clearInterval(watch); watch = null; }
    if (nativeWatch) { nativeWatch.abort(); nativeWatch = null; }
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
    player.mode = 'hls';
    directLoaded = false;
    last.hidden = true;
    setState(state || 'live');
    // A backstop: a player stuck on a gone broadcast (no error, no ENDLIST) notices within this;
    // the answer also brings the viewer count.
    if (!vodUrl) watch = setInterval(check, 15000);
    if (window.Hls && window.Hls.isSupported()) {
      // Catching up at up to 1.5x keeps the player near the live edge (measured: 2.7 s → 1.7 s latency).
      const settings = {lowLatencyMode: true, backBufferLength: 30, liveSyncDurationCount: 2, maxLiveSyncPlaybackRate: 1.5};
      // A relay port a firewall drops would hold the first playlist for a minute (hls.js's
      // defaults): give up on it within seconds and go through the edge.
      if (player.source === 'direct') {
        const once = {maxNumRetry: 0, retryDelayMs: 0, maxRetryDelayMs: 0};
        settings.manifestLoadPolicy = {default: {maxTimeToFirstByteMs: 4000, maxLoadTimeMs: 8000, timeoutRetry: once, errorRetry: once}};
      }
      hls = new window.Hls(settings);
      player.hls = hls;
      hls.on(window.Hls.Events.MANIFEST_PARSED, (_e, data) => {
        directLoaded = player.source === 'direct';
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
        // The playlist is gone (404): the broadcast ended or moved; ask the API again. A relay
        // that cannot be reached directly (a firewall, its certificate, no answer): through the
        // edge instead; one that answered an error after playing stays the source.
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
          if (!directLoaded || !status) leaveDirect();
          stop(); check(); return;
        }
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
        goOffline();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url; // Safari plays (LL-)HLS natively
      video.play().catch(() => {});
      if (player.source === 'direct') {
        // Safari has no load policy to shorten: a source that shows nothing within 8 s, or fails,
        // gives way to the edge.
        const watchNative = new AbortController();
        nativeWatch = watchNative;
        const giveUp = () => { if (leaveDirect()) { stop(); check(); } };
        const timer = setTimeout(giveUp, 8000);
        watchNative.signal.addEventListener('abort', () => clearTimeout(timer));
        video.addEventListener('loadedmetadata', () => clearTimeout(timer), {once: true, signal: watchNative.signal});
        video.addEventListener('error', giveUp, {once: true, signal: watchNative.signal});
      }
    }
  }

  async function ask() {
    try {
      const response = await fetch('/api/streams/' + encodeURIComponent(channel) + '/playback', {cache: 'no-store'});
      if (response.status === 404) { goOffline(); return; }
      const body = await response.json();
      if (!response.ok) { if (current === null) goOffline(); return; }
      viewers.textContent = body.live && typeof body.viewers === 'number' ? body.viewers + (body.viewers === 1 ? ' viewer' : ' viewers') : '';
      if (!body.live) { goOffline(body.vod); showRealtime(undefined); }
      // Started, or a new broadcast (the streamer reconnected): play it from its start.
      else if (body.streamId !== current) { stop(); setAudioOnly(body.audioOnly === true); begin(body); }
      else {
        // The same broadcast: real time may have come (its tracks reach the SFU a moment after it starts) or gone.
        const offered = !lastBody || lastBody.realtime !== body.realtime;
        lastBody = body;
        // Real time stopped (the box shed the rendition it carried, or its server is moving): LL-HLS.
        if (player.mode === 'realtime' && !body.realtime) { realtimeFailed('the channel stopped offering it'); return; }
        showRealtime(body.realtime);
        if (offered && body.realtime && player.mode === 'hls' && realtimeWanted() && canRealtime() && !player.realtimeErrors) { stop(); begin(body); }
      }
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
`,
)

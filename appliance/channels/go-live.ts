/**
 * Go live from the browser: the dashboard's page that records a camera, a microphone or a screen
 * with MediaRecorder and sends it over a WebSocket to an ingest (docs/browser-ingest.md). The web
 * picks the ingest (least loaded, with a free slot), mints a ticket for the channel's owner, and
 * forwards the page's socket to that ingest (ingest/browser-forward.ts).
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import type {Viewer} from '../accounts/users.js'
import {browserIngestUrl, closeCodes, mintTicket, type GoLiveSession, type HardwareProfile} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {listNodes} from '../registry/nodes.js'
import {asset} from '../web/assets.js'
import {csrfField, escapeHtml, formText as text, notFoundPage, page, sendPage as html, viewerOrLogIn, type PageContext, type PageContextOf} from '../web/html.js'
import {ChannelInputError, Channels, TITLE_MAX_LENGTH, type ChannelDoc} from './channels.js'

export interface GoLiveOptions {
  db: Db
  redis: Redis
  streamKeySecret: string
  profile: HardwareProfile
  goLiveRefusal: (viewer: Viewer) => string | undefined
  pageContext: PageContextOf
  log: Logger
}

export const goLivePath = (channel: string): string => `/dashboard/c/${encodeURIComponent(channel)}/go-live`

/** The page's island: devices, preview, the socket, reconnects and the bitrate. */
export const goLiveJs = asset(
  '/assets/go-live.js',
  'text/javascript; charset=utf-8',
  `(() => {
  const form = document.getElementById('go-live');
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const status = $('go-live-status'), preview = $('preview'), start = $('start'), stop = $('stop');
  const cameraSelect = $('camera'), micSelect = $('microphone'), problem = $('go-live-problem'), quality = $('go-live-quality');
  const codes = ${JSON.stringify(closeCodes)};
  // What the tests (and a curious streamer, in the console) read.
  const state = window.shingGoLive = {phase: 'offline', live: false, streamId: undefined, reconnects: 0, kbps: 0, mimeType: undefined, error: undefined, liveAt: undefined};
  const say = (text, phase) => { status.textContent = text; status.dataset.phase = phase; state.phase = phase; };
  const fail = (text) => { problem.textContent = text; problem.hidden = false; };
  if (!window.isSecureContext || !navigator.mediaDevices || !window.MediaRecorder) {
    fail('This browser cannot broadcast from this page: it needs a secure (https://) site and a browser that records video (current Chrome, Edge, Firefox or Safari). Ask the site\\'s admin to turn TLS on, or stream with OBS.');
    start.disabled = true;
    return;
  }
  // H.264 first: the ingest copies it as it is; other codecs cost it an encode.
  const mimeType = ['video/webm;codecs=h264,opus', 'video/x-matroska;codecs=avc1,opus', 'video/mp4;codecs=avc1,mp4a.40.2', 'video/mp4', 'video/webm;codecs=vp8,opus', 'video/webm'].find((t) => MediaRecorder.isTypeSupported(t));
  state.mimeType = mimeType;
  const top = {height: Number(form.dataset.height), fps: Number(form.dataset.fps), kbps: Number(form.dataset.kbps)};
  let media, recorder, socket, ingestId, avoid, fields, restarting = false, wanted = false, wasLive = false, retryUntil = 0, timer;
  const source = () => new FormData(form).get('source');

  const fillDevices = async () => {
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [select, kind] of [[cameraSelect, 'videoinput'], [micSelect, 'audioinput']]) {
      const chosen = select.value;
      const options = devices.filter((d) => d.kind === kind).map((d, i) => new Option(d.label || (kind === 'videoinput' ? 'Camera ' : 'Microphone ') + (i + 1), d.deviceId));
      if (kind === 'audioinput') options.push(new Option('No microphone', 'none'));
      select.replaceChildren(...options);
      if (chosen && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
    }
  };
  const openMedia = async () => {
    media?.getTracks().forEach((t) => t.stop());
    const mic = micSelect.value === 'none' ? false : {deviceId: micSelect.value ? {exact: micSelect.value} : undefined, echoCancellation: true};
    if (source() === 'screen') {
      const screen = await navigator.mediaDevices.getDisplayMedia({video: {height: {max: top.height}, frameRate: {max: top.fps}}, audio: true});
      const voice = mic ? (await navigator.mediaDevices.getUserMedia({audio: mic})).getAudioTracks() : [];
      media = new MediaStream([...screen.getVideoTracks(), ...(voice.length > 0 ? voice : screen.getAudioTracks())]);
    } else {
      media = await navigator.mediaDevices.getUserMedia({video: {deviceId: cameraSelect.value ? {exact: cameraSelect.value} : undefined, height: {ideal: top.height}, frameRate: {ideal: top.fps}}, audio: mic});
    }
    preview.srcObject = media;
    cameraSelect.disabled = source() === 'screen';
    // A shared screen the browser stopped (its own "Stop sharing" button) ends the broadcast.
    media.getVideoTracks()[0]?.addEventListener('ended', () => { if (wanted) end('The shared screen was closed: the broadcast ended.'); });
    await fillDevices();
  };
  const showPreview = async () => {
    problem.hidden = true;
    try { await openMedia(); if (!wanted) say('Ready: check the preview, then go live.', 'ready'); }
    catch (error) { fail('The browser gave no ' + (source() === 'screen' ? 'screen' : 'camera or microphone') + ': ' + error.message + '. Allow it in the address bar, or pick another source.'); }
  };

  const startRecorder = () => {
    recorder = new MediaRecorder(media, {mimeType, videoBitsPerSecond: state.kbps * 1000, audioBitsPerSecond: 128000});
    const mine = socket;
    recorder.ondataavailable = (event) => { if (event.data.size > 0 && mine.readyState === WebSocket.OPEN) mine.send(event.data); };
    recorder.start(250);
  };
  const stopRecorder = () => { if (recorder && recorder.state !== 'inactive') recorder.stop(); recorder = undefined; };

  const retry = (text) => {
    stopRecorder();
    if (Date.now() > retryUntil) return end('Could not reach a server for a minute: the broadcast ended. Try again, or stream with OBS.');
    say(text, 'reconnecting');
    state.reconnects += 1;
    timer = setTimeout(connect, 2000);
  };
  const connect = async () => {
    if (!wanted) return;
    const body = new URLSearchParams(fields);
    if (avoid) body.set('avoid', avoid);
    let answer;
    try {
      const response = await fetch(form.action, {method: 'POST', headers: {accept: 'application/json'}, body});
      answer = await response.json().catch(() => ({}));
      if (response.status === 503) return retry(answer.message || 'No server has room for a broadcast now: trying again…');
      if (!response.ok) return end(answer.message || 'The site refused: ' + response.status);
    } catch { return retry('The site does not answer: trying again…'); }
    ingestId = answer.ingestId;
    state.kbps ||= answer.video.kbps;
    const ws = socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + answer.socketPath);
    let said;
    ws.onopen = () => ws.send(JSON.stringify({type: 'hello', mimeType}));
    ws.onmessage = (event) => {
      let message; try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === 'ready') { startRecorder(); say('Connected: starting the broadcast…', 'starting'); }
      else if (message.type === 'live') { state.live = wasLive = true; restarting = false; retryUntil = 0; state.streamId = message.streamId; state.liveAt = Date.now(); say('Live. Viewers see you a few seconds late; keep this tab open.', 'live'); }
      else if (message.type === 'slow-down') lower();
      else if (message.type === 'error') said = message;
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = undefined;
      state.live = false;
      stopRecorder();
      if (!wanted) return;
      const why = said?.message || event.reason;
      state.error = why;
      // Final: the streamer must change something first. The rest: reconnect (another server).
      if ([1009, codes.badHello, codes.unauthorized, codes.badMedia, codes.ended].includes(event.code)) return end(why || 'The server ended the broadcast.');
      // Refused as live already: final on a first start (OBS or another tab is live), not while
      // our own last broadcast winds down (after a drop, or a restart at a lower bitrate).
      if (event.code === codes.refused && !wasLive && !restarting) return end(why);
      avoid = undefined;
      if (event.code === 1000) { timer = setTimeout(connect, 1000); return; } // we closed it to change the bitrate: the same ingest is fine
      // A refusal is about the channel (its last broadcast still winding down), not the ingest.
      avoid = event.code === codes.refused ? undefined : ingestId;
      if (retryUntil < Date.now()) retryUntil = Date.now() + 60000;
      retry('Connection lost' + (why ? ' (' + why + ')' : '') + ': reconnecting…');
    };
  };
  // The upload is slower than the bitrate: record anew at a lower one (a short gap for viewers).
  const lower = () => {
    if (!socket || socket.readyState !== WebSocket.OPEN || state.kbps <= 300) return;
    restarting = true;
    state.kbps = Math.max(300, Math.round(state.kbps * 0.6));
    quality.textContent = 'Your upload is slower than the stream: the quality is lowered to ' + state.kbps + ' kbit/s.';
    quality.hidden = false;
    socket.close(1000, 'lower bitrate');
  };
  setInterval(() => { if (socket && socket.readyState === WebSocket.OPEN && socket.bufferedAmount > (state.kbps * 1000 / 8) * 3) lower(); }, 1000);

  const end = (text) => {
    wanted = false;
    clearTimeout(timer);
    stopRecorder();
    const ws = socket; socket = undefined;
    // The recorder's last chunk goes out before the close.
    if (ws) setTimeout(() => ws.close(1000, 'ended by the streamer'), 300);
    state.live = false;
    start.hidden = false; start.disabled = false; stop.hidden = true;
    for (const input of form.querySelectorAll('input, select')) input.disabled = false;
    cameraSelect.disabled = source() === 'screen';
    if (text) { say('Offline.', 'failed'); fail(text); }
    else say(wasLive ? 'Offline. The broadcast is saved with your past broadcasts.' : 'Offline.', 'offline');
  };

  form.addEventListener('change', (event) => { if (!wanted && event.target.name !== 'title') showPreview(); });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.hidden = true; quality.hidden = true;
    if (!media || media.getTracks().every((t) => t.readyState === 'ended')) { await showPreview(); if (!media) return; }
    // Read before the form is locked (disabled fields are not sent).
    fields = new URLSearchParams(new FormData(form));
    wanted = true; wasLive = false; restarting = false; state.kbps = 0; retryUntil = Date.now() + 60000; ingestId = avoid = undefined;
    start.hidden = true; stop.hidden = false; stop.focus();
    for (const input of form.querySelectorAll('input, select')) input.disabled = true;
    say('Connecting…', 'connecting');
    connect();
  });
  stop.addEventListener('click', () => end());
  window.addEventListener('beforeunload', (event) => { if (wanted) event.preventDefault(); });
  say('Pick a source: the preview shows what viewers will see.', 'offline');
  showPreview();
})();
`,
)

export function goLivePage(context: PageContext, view: {channel: ChannelDoc; top: GoLiveSession['video']; refusal?: string}): string {
  const name = view.channel.name
  const {top} = view
  const body = view.refusal !== undefined
    ? `<p class="notice" id="go-live-refusal">${escapeHtml(view.refusal)} <a href="/account">Your account</a></p>`
    : view.channel.disabled !== undefined
      ? `<p class="notice error" role="alert">This channel is disabled by the site's moderators: it cannot go live.</p>`
      : `<p class="notice error" id="go-live-problem" role="alert" hidden></p>
<p class="notice" id="go-live-quality" role="status" hidden></p>
<form id="go-live" class="stack go-live" method="post" action="${goLivePath(name)}" data-height="${top.height}" data-fps="${top.fps}" data-kbps="${top.kbps}">
${csrfField(context.csrfToken)}
<div class="go-live-preview"><video id="preview" muted autoplay playsinline aria-label="Preview of what viewers see"></video></div>
<p id="go-live-status" class="go-live-status" role="status" aria-live="polite" data-phase="offline">Loading…</p>
<fieldset class="choices"><legend>Source</legend>
<label class="choice"><input type="radio" name="source" value="camera" checked> Camera</label>
<label class="choice"><input type="radio" name="source" value="screen"> Screen or window</label>
</fieldset>
<label>Camera <select id="camera" name="camera"></select></label>
<label>Microphone <select id="microphone" name="microphone"></select></label>
<label>Title shown to viewers <input name="title" value="${escapeHtml(view.channel.title ?? '')}" maxlength="${TITLE_MAX_LENGTH}"></label>
<p class="actions"><button class="primary" type="submit" id="start">Go live</button> <button class="danger" type="button" id="stop" hidden>End broadcast</button></p>
</form>
<p class="hint">Sent at up to ${top.height}p, ${top.fps} fps and ${top.kbps} kbit/s, lowered by itself when your upload is slower. Viewers see it on <a href="/c/${encodeURIComponent(name)}">your channel page</a>; it is recorded like any broadcast. For more control (scenes, overlays), stream with OBS: the server and keys are on <a href="/dashboard/c/${encodeURIComponent(name)}">your dashboard</a>.</p>`
  return page(context, {
    title: `Go live · ${name}`,
    scripts: [goLiveJs.url],
    body: `<p><a href="/dashboard/c/${encodeURIComponent(name)}">${escapeHtml(name)}'s dashboard</a></p>
<h1>Go live from this browser</h1>
${body}`,
  })
}

export async function goLiveRoutes(app: FastifyInstance, options: GoLiveOptions): Promise<void> {
  const {redis, pageContext, log} = options
  const channels = new Channels(options.db)
  const ladderTop = options.profile.ladder[0]!
  const top: GoLiveSession['video'] = {height: ladderTop.height, fps: ladderTop.fps, kbps: ladderTop.videoKbps}

  const owned = async (request: FastifyRequest<{Params: {channel: string}}>): Promise<ChannelDoc | null> =>
    request.viewer === undefined ? null : channels.owned(request.params.channel, request.viewer.id)

  app.get<{Params: {channel: string}}>('/dashboard/c/:channel/go-live', async (request, reply) => {
    if (viewerOrLogIn(request, reply) === undefined) return reply
    const channel = await owned(request)
    if (channel === null) return html(reply, 404, notFoundPage(pageContext(request, reply), {what: 'You have no channel by that name.'}))
    const refusal = options.goLiveRefusal(request.viewer!)
    return html(reply, 200, goLivePage(pageContext(request, reply, {form: true}), {channel, top, ...(refusal === undefined ? {} : {refusal})}))
  })

  // The page asks here before each connection: an ingest with room, and a ticket for it.
  app.post<{Params: {channel: string}; Body: Record<string, unknown>}>('/dashboard/c/:channel/go-live', async (request, reply): Promise<FastifyReply | GoLiveSession> => {
    const refuse = (status: number, error: string, message: string): FastifyReply => reply.code(status).header('cache-control', 'no-store').send({error, message})
    if (request.viewer === undefined) return refuse(401, 'unauthorized', 'Your session ended: log in again, then go live.')
    const channel = await owned(request)
    if (channel === null) return refuse(404, 'not found', 'You have no channel by that name.')
    const refusal = options.goLiveRefusal(request.viewer)
    if (refusal !== undefined) return refuse(403, 'forbidden', refusal)
    if (channel.disabled !== undefined) return refuse(403, 'forbidden', "This channel is disabled by the site's moderators: it cannot go live.")
    const title = text(request.body?.title)
    if (title !== (channel.title ?? '')) {
      try {
        await channels.setTitle(channel.name, title)
      } catch (error) {
        if (!(error instanceof ChannelInputError)) throw error
        return refuse(400, 'bad request', error.message)
      }
    }
    const avoid = text(request.body?.avoid)
    const ingests = (await listNodes(redis, 'ingest')).filter((n) => (n.load.slotsFree ?? 0) > 0 && n.ports.http !== undefined)
    const ingest = ingests.find((n) => n.id !== avoid) ?? ingests[0]
    if (ingest === undefined) {
      log.warn({channel: channel.name}, 'go live: no ingest has a free slot')
      return refuse(503, 'service unavailable', 'No server has room for another broadcast now: trying again…')
    }
    return {socketPath: browserIngestUrl(ingest.id, mintTicket(options.streamKeySecret, channel.name)), ingestId: ingest.id, video: top}
  })
}

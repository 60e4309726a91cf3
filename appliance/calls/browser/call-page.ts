// The call room's page (/calls/<room>), bundled with mediasoup-client into /assets/calls.js by
// appliance/scripts/bundle-browser.mjs. It signals over the site's Socket.IO connection
// (namespace /calls): every request is one 'call' event with an ack; what changes in the room
// comes as 'callEvent'. docs/calls.md tells the exchange.
import {Device} from 'mediasoup-client'
import type {types} from 'mediasoup-client'

import {startStudioPanel} from './studio-panel.js'
import type {CallAck, CallConsumerInfo, CallEvent, CallMethod, CallProducerView, CallRequest, CallResults, MediaSource} from '../../contract/calls.js'

interface CallSocket {
  connected: boolean
  connect(): void
  on(event: string, listener: (...args: never[]) => void): void
  emit(event: 'call', request: CallRequest, ack: (answer: CallAck) => void): void
  timeout(ms: number): {emit(event: 'call', request: CallRequest, ack: (error: Error | null, answer: CallAck) => void): void}
}
declare const io: (namespace: string, options: Record<string, unknown>) => CallSocket

/** What the tests (and a curious visitor, in the console) read. */
interface CallState {
  phase: 'loading' | 'lobby' | 'joining' | 'in-call' | 'rejoining' | 'left' | 'failed'
  sfu?: string
  rejoins: number
  speaker?: string | null
  peers: Record<string, {name: string; producers: string[]}>
  error?: string
}
declare global {
  interface Window {
    shingCall: CallState
    /** Set before the page loads (a test): media only through the TURN server. */
    shingCallRelayOnly?: boolean
    /** How each media connection goes now: the local candidate type in use (host, srflx, relay) and its protocol. */
    shingCallConnections(): Promise<Array<{type: string; protocol: string}>>
  }
}

interface RemotePeer {
  name: string
  tile: HTMLLIElement
  video: HTMLVideoElement
  screen?: {tile: HTMLLIElement; video: HTMLVideoElement}
  audio: HTMLAudioElement
  producers: Map<string, CallProducerView>
}

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`the page has no #${id}`)
  return element as T
}

const room = document.body.dataset.room ?? ''
const state: CallState = (window.shingCall = {phase: 'loading', rejoins: 0, peers: {}})
const status = $('call-status')
const problem = $('call-problem')
const say = (text: string, phase: CallState['phase']): void => {
  status.textContent = text
  status.dataset.phase = phase
  state.phase = phase
}
const fail = (text: string): void => {
  problem.textContent = text
  problem.hidden = false
  state.error = text
}
const calm = (): void => {
  problem.hidden = true
}

// --- the room's link ---------------------------------------------------------------------------
for (const button of document.querySelectorAll<HTMLButtonElement>('[data-copy]')) {
  button.addEventListener('click', () => {
    const input = $<HTMLInputElement>(button.dataset.copy ?? '')
    input.select()
    navigator.clipboard.writeText(input.value).then(
      () => say('Link copied: send it to whoever you want in the call.', state.phase),
      () => say('Select the link and copy it (the browser did not allow it).', state.phase),
    )
  })
}

// --- inviting someone: sent from here, so the call goes on ----------------------------------------
const inviteForm = document.getElementById('invite') as HTMLFormElement | null
inviteForm?.addEventListener('submit', (event) => {
  event.preventDefault()
  const error = $('invite-error')
  const input = $<HTMLInputElement>('invite-username')
  const notice = $('call-notice')
  void (async () => {
    try {
      const response = await fetch(inviteForm.action, {method: 'POST', headers: {accept: 'application/json'}, body: new URLSearchParams(new FormData(inviteForm) as unknown as Record<string, string>)})
      const answer = (await response.json().catch(() => ({}))) as {invited?: string; error?: string}
      if (!response.ok) throw new Error(answer.error ?? `The site refused (${response.status}).`)
      error.hidden = true
      input.removeAttribute('aria-invalid')
      input.value = ''
      notice.textContent = `We told ${answer.invited ?? ''}: a link to this call is in their notifications.`
      notice.hidden = false
    } catch (problem) {
      error.textContent = (problem as Error).message
      error.hidden = false
      input.setAttribute('aria-invalid', 'true')
      input.focus()
    }
  })()
})

// --- a studio's broadcast controls (the host's studio page) ---------------------------------------
startStudioPanel()

// --- local media -------------------------------------------------------------------------------
let microphone: MediaStreamTrack | undefined
let camera: MediaStreamTrack | undefined
const preview = $<HTMLVideoElement>('preview')

async function openDevices(): Promise<void> {
  const want = {audio: $<HTMLInputElement>('join-mic').checked, video: $<HTMLInputElement>('join-camera').checked}
  microphone?.stop()
  camera?.stop()
  microphone = camera = undefined
  if (!want.audio && !want.video) {
    preview.srcObject = null
    return
  }
  const media = await navigator.mediaDevices.getUserMedia({
    audio: want.audio ? {echoCancellation: true, noiseSuppression: true, autoGainControl: true} : false,
    video: want.video ? {width: {ideal: 1280}, height: {ideal: 720}, frameRate: {ideal: 30}} : false,
  })
  microphone = media.getAudioTracks()[0]
  camera = media.getVideoTracks()[0]
  preview.srcObject = camera === undefined ? null : new MediaStream([camera])
}

// --- signalling --------------------------------------------------------------------------------
const socket = io(document.body.dataset.namespace ?? '/calls', {path: '/socket.io', transports: ['websocket']})

class CallFailure extends Error {
  constructor(message: string, readonly rejoin: boolean) {
    super(message)
  }
}

function request<M extends CallMethod>(body: Extract<CallRequest, {method: M}>): Promise<CallResults[M]> {
  return new Promise((resolve, reject) => {
    // A join may try more than one server before one answers.
    socket.timeout(body.method === 'join' ? 45_000 : 15_000).emit('call', body, (error, answer) => {
      if (error !== null) return reject(new CallFailure('The site does not answer: reconnecting…', true))
      if (answer.ok) resolve(answer.result as CallResults[M])
      else reject(new CallFailure(answer.error, answer.rejoin === true))
    })
  })
}

// --- sound the browser would not play by itself (no click on this page yet) ---------------------
function soundBlocked(): void {
  const button = $<HTMLButtonElement>('sound')
  if (!button.hidden) return
  button.hidden = false
  button.onclick = () => {
    for (const audio of document.querySelectorAll<HTMLAudioElement>('#tiles audio')) audio.play().catch(() => undefined)
    button.hidden = true
  }
}

// --- the call ----------------------------------------------------------------------------------
let device: Device | undefined
let sendTransport: types.Transport | undefined
let recvTransport: types.Transport | undefined
const producers = new Map<MediaSource, types.Producer>()
const consumers = new Map<string, {consumer: types.Consumer; peer: string; source: MediaSource}>()
const peers = new Map<string, RemotePeer>()
let wanted = false
let joining: Promise<void> | undefined
/** Why to join again once the join under way ends. */
let rejoinAfter: string | undefined
let rejoinTimer: ReturnType<typeof setTimeout> | undefined
let screenTrack: MediaStreamTrack | undefined
const tiles = $<HTMLUListElement>('tiles')

function tile(name: string, label: string): {tile: HTMLLIElement; video: HTMLVideoElement} {
  const li = document.createElement('li')
  li.className = 'call-tile no-video'
  const video = document.createElement('video')
  video.autoplay = true
  video.playsInline = true
  video.muted = true
  const caption = document.createElement('span')
  caption.className = 'call-name'
  caption.textContent = label
  const initial = document.createElement('span')
  initial.className = 'call-initial'
  initial.setAttribute('aria-hidden', 'true')
  initial.textContent = name.slice(0, 1).toUpperCase()
  const muted = document.createElement('span')
  muted.className = 'call-muted'
  muted.textContent = 'Muted'
  muted.hidden = true
  li.append(video, initial, caption, muted)
  li.setAttribute('aria-label', label)
  // Your own tile stays last; the others come before it (the one speaking first).
  const mine = tiles.querySelector('li.mine')
  if (mine === null) tiles.append(li)
  else tiles.insertBefore(li, mine)
  return {tile: li, video}
}

const myTile = ((): {tile: HTMLLIElement; video: HTMLVideoElement} => {
  const mine = tile('You', 'You')
  mine.tile.classList.add('mine')
  mine.tile.hidden = true
  return mine
})()

function showMine(): void {
  myTile.tile.hidden = false
  const cameraOn = camera !== undefined && producers.get('camera')?.paused !== true
  myTile.video.srcObject = cameraOn && camera !== undefined ? new MediaStream([camera]) : null
  myTile.tile.classList.toggle('no-video', !cameraOn)
  const mutedBadge = myTile.tile.querySelector<HTMLElement>('.call-muted')
  if (mutedBadge !== null) mutedBadge.hidden = producers.get('mic') !== undefined && producers.get('mic')?.paused !== true
}

const UNNAMED = '…'

function peerOf(id: string, name: string): RemotePeer {
  let peer = peers.get(id)
  if (peer !== undefined && peer.name === UNNAMED && name !== UNNAMED) {
    // Heard of by its camera before its name: named now.
    peer.name = name
    peer.tile.setAttribute('aria-label', name)
    peer.tile.querySelector('.call-name')!.textContent = name
    peer.tile.querySelector('.call-initial')!.textContent = name.slice(0, 1).toUpperCase()
  }
  if (peer === undefined) {
    const made = tile(name, name)
    made.tile.dataset.peer = id
    const audio = document.createElement('audio')
    audio.autoplay = true
    made.tile.append(audio)
    peer = {name, ...made, audio, producers: new Map()}
    peers.set(id, peer)
    state.peers[id] = {name, producers: []}
    layoutChanged()
  }
  return peer
}

function dropPeer(id: string): void {
  const peer = peers.get(id)
  if (peer === undefined) return
  peer.tile.remove()
  peer.screen?.tile.remove()
  peers.delete(id)
  delete state.peers[id]
  for (const [consumerId, entry] of consumers) {
    if (entry.peer === id) {
      entry.consumer.close()
      consumers.delete(consumerId)
    }
  }
  layoutChanged()
}

/** A peer's tile shows what its producers say: video or its initial, muted or not. */
function refreshPeer(id: string): void {
  const peer = peers.get(id)
  if (peer === undefined) return
  const live = (source: MediaSource): boolean => [...consumers.values()].some((c) => c.peer === id && c.source === source && !c.consumer.closed) && [...peer.producers.values()].some((p) => p.source === source && !p.paused)
  peer.tile.classList.toggle('no-video', !live('camera'))
  const mutedBadge = peer.tile.querySelector<HTMLElement>('.call-muted')
  if (mutedBadge !== null) mutedBadge.hidden = live('mic')
  state.peers[id] = {name: peer.name, producers: [...peer.producers.values()].filter((p) => !p.paused).map((p) => p.source)}
  if (peer.screen !== undefined && !live('screen')) {
    peer.screen.tile.remove()
    delete peer.screen
    layoutChanged()
  }
}

/** The grid's columns follow the number of tiles; each video asks for the simulcast layer its tile needs. */
function layoutChanged(): void {
  const count = tiles.querySelectorAll('li:not([hidden])').length
  tiles.dataset.count = String(Math.min(count, 16))
}
const layers = new Map<string, number>()
const resizes = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const consumerId = (entry.target as HTMLElement).dataset.consumer
    if (consumerId === undefined || !consumers.has(consumerId)) continue
    const width = entry.contentRect.width * devicePixelRatio
    const layer = width <= 360 ? 0 : width <= 800 ? 1 : 2
    if (layers.get(consumerId) === layer) continue
    layers.set(consumerId, layer)
    request({method: 'setPreferredLayer', consumerId, spatialLayer: layer}).catch(() => undefined)
  }
})

/** Producers announced before this page could receive them: consumed once it can. */
const pending: Array<{peer: string; name: string; producer: CallProducerView}> = []
const removePending = (gone: (entry: (typeof pending)[number]) => boolean): void => {
  for (let i = pending.length - 1; i >= 0; i -= 1) if (gone(pending[i]!)) pending.splice(i, 1)
}
/**
 * Who left and what closed since this join began: the join's answer is a snapshot, and the event
 * that someone left may overtake it (it comes through Redis, the answer over HTTP). Without this,
 * one who left during the join would stay a tile with nothing in it.
 */
const goneWhileJoining = {peers: new Set<string>(), producers: new Set<string>()}

async function consume(peerId: string, name: string, producer: CallProducerView): Promise<void> {
  if (recvTransport === undefined || device === undefined) {
    pending.push({peer: peerId, name, producer})
    return
  }
  if ([...consumers.values()].some((entry) => entry.consumer.producerId === producer.id)) return
  const peer = peerOf(peerId, name)
  peer.producers.set(producer.id, producer)
  const info: CallConsumerInfo = await request({method: 'consume', transportId: recvTransport.id, producerId: producer.id})
  const consumer = await recvTransport.consume({id: info.id, producerId: info.producerId, kind: info.kind, rtpParameters: info.rtpParameters as types.RtpParameters})
  consumers.set(consumer.id, {consumer, peer: peerId, source: info.source})
  const stream = new MediaStream([consumer.track])
  if (info.source === 'mic') {
    peer.audio.srcObject = stream
    peer.audio.play().catch(() => soundBlocked())
  } else {
    let target = peer.video
    if (info.source === 'screen') {
      peer.screen ??= tile(peer.name, `${peer.name}'s screen`)
      peer.screen.tile.classList.add('screen')
      target = peer.screen.video
      layoutChanged()
    }
    target.srcObject = stream
    target.dataset.consumer = consumer.id
    resizes.observe(target)
  }
  await request({method: 'resumeConsumer', consumerId: consumer.id})
  refreshPeer(peerId)
}

function createTransport(direction: 'send' | 'recv', info: CallResults['createTransport']): types.Transport {
  if (device === undefined) throw new Error('no device')
  const options = {
    id: info.id,
    iceParameters: info.iceParameters as types.IceParameters,
    iceCandidates: info.iceCandidates as types.IceCandidate[],
    dtlsParameters: info.dtlsParameters as types.DtlsParameters,
    ...(info.iceServers === undefined ? {} : {iceServers: info.iceServers as RTCIceServer[]}),
    iceTransportPolicy: window.shingCallRelayOnly === true ? ('relay' as const) : ('all' as const),
  }
  const transport = direction === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options)
  transport.on('connect', ({dtlsParameters}, callback, errback) => {
    request({method: 'connectTransport', transportId: transport.id, dtlsParameters: dtlsParameters as unknown as Record<string, unknown>}).then(() => callback(), errback)
  })
  transport.on('produce', ({kind, rtpParameters, appData}, callback, errback) => {
    const source = (appData as {source: MediaSource}).source
    request({method: 'produce', transportId: transport.id, kind, rtpParameters: rtpParameters as unknown as Record<string, unknown>, source}).then(callback, errback)
  })
  let lost: ReturnType<typeof setTimeout> | undefined
  transport.observer.on('close', () => clearTimeout(lost))
  transport.on('connectionstatechange', (connection) => {
    clearTimeout(lost)
    if (transport.closed) return
    if (connection === 'failed') rejoin('The connection to the call server failed: joining again…')
    // A short blink recovers by itself; longer, the server is likely gone.
    else if (connection === 'disconnected') lost = setTimeout(() => rejoin('The connection to the call server was lost: joining again…'), 2000)
  })
  return transport
}

/** Simulcast: three layers of the camera, so each receiver gets what its tile and bandwidth need. */
const CAMERA_ENCODINGS: RTCRtpEncodingParameters[] = [
  {scaleResolutionDownBy: 4, maxBitrate: 150_000},
  {scaleResolutionDownBy: 2, maxBitrate: 500_000},
  {scaleResolutionDownBy: 1, maxBitrate: 1_500_000},
]

async function produce(source: MediaSource, track: MediaStreamTrack): Promise<types.Producer | undefined> {
  if (sendTransport === undefined) return undefined
  const producer = await sendTransport.produce({
    track,
    stopTracks: false,
    appData: {source},
    ...(source === 'camera' ? {encodings: CAMERA_ENCODINGS, codecOptions: {videoGoogleStartBitrate: 1000}} : {}),
  })
  producers.set(source, producer)
  return producer
}

window.shingCallConnections = async () => {
  const found: Array<{type: string; protocol: string}> = []
  for (const transport of [sendTransport, recvTransport]) {
    if (transport === undefined) continue
    const stats = [...(await transport.getStats()).values()] as Array<Record<string, unknown>>
    const byId = new Map(stats.map((report) => [report.id as string, report]))
    for (const report of stats.filter((r) => r.type === 'transport' && typeof r.selectedCandidatePairId === 'string')) {
      const local = byId.get(byId.get(report.selectedCandidatePairId as string)?.localCandidateId as string)
      if (local !== undefined) found.push({type: String(local.candidateType), protocol: String(local.protocol)})
    }
  }
  return found
}

function teardown(): void {
  pending.length = 0
  for (const {consumer} of consumers.values()) consumer.close()
  consumers.clear()
  for (const producer of producers.values()) producer.close()
  producers.clear()
  sendTransport?.close()
  recvTransport?.close()
  sendTransport = recvTransport = undefined
  for (const id of [...peers.keys()]) dropPeer(id)
  layers.clear()
}

async function join(): Promise<void> {
  say(state.rejoins === 0 ? 'Joining…' : 'Joining again…', state.rejoins === 0 ? 'joining' : 'rejoining')
  teardown()
  device = new Device()
  goneWhileJoining.peers.clear()
  goneWhileJoining.producers.clear()
  const answer = await request({method: 'join', room})
  const joined = {
    ...answer,
    peers: answer.peers
      .filter((peer) => !goneWhileJoining.peers.has(peer.peer))
      .map((peer) => ({...peer, producers: peer.producers.filter((producer) => !goneWhileJoining.producers.has(producer.id))})),
  }
  state.sfu = joined.sfu
  for (const peer of joined.peers) peerOf(peer.peer, peer.name)
  await device.load({routerRtpCapabilities: joined.rtpCapabilities as types.RtpCapabilities})
  await request({method: 'setRtpCapabilities', rtpCapabilities: device.rtpCapabilities as unknown as Record<string, unknown>})
  sendTransport = createTransport('send', await request({method: 'createTransport', direction: 'send'}))
  recvTransport = createTransport('recv', await request({method: 'createTransport', direction: 'recv'}))
  if (microphone !== undefined && microphone.readyState === 'live') await produce('mic', microphone)
  if (camera !== undefined && camera.readyState === 'live') await produce('camera', camera)
  if (screenTrack !== undefined && screenTrack.readyState === 'live') await produce('screen', screenTrack)
  for (const producerId of ['mic', 'camera'] as const) {
    const button = $<HTMLButtonElement>(producerId === 'mic' ? 'mute' : 'camera')
    if (button.getAttribute('aria-pressed') === 'true') await setPaused(producerId, true)
  }
  showMine()
  for (const peer of joined.peers) for (const producer of peer.producers) pending.push({peer: peer.peer, name: peer.name, producer})
  // What the others sent before this one could receive (the list, and what came while joining); one
  // that went meanwhile (a screen share stopped, someone left) is not worth failing the join for.
  const results = await Promise.allSettled(pending.splice(0).map((entry) => consume(entry.peer, entry.name, entry.producer)))
  const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason instanceof CallFailure && r.reason.rejoin)
  if (lost !== undefined) throw lost.reason
  layoutChanged()
  calm()
  say(peers.size === 0 ? 'In the call. Nobody else is here yet: send them the link.' : `In the call with ${peers.size} ${peers.size === 1 ? 'other' : 'others'}.`, 'in-call')
}

function rejoin(why: string): void {
  if (!wanted || rejoinTimer !== undefined) return
  // A join under way: the next one comes after it.
  if (joining !== undefined) {
    rejoinAfter = why
    return
  }
  state.rejoins += 1
  say(why, 'rejoining')
  rejoinTimer = setTimeout(() => {
    rejoinTimer = undefined
    start()
  }, 500 + Math.random() * 1000)
}

/** Joins (or joins again), retrying while the failure is one that a new attempt may fix. */
function start(): void {
  if (joining !== undefined) return
  const began = Date.now()
  const attempt = async (): Promise<void> => {
    for (let delay = 1000; wanted; delay = Math.min(delay * 2, 8000)) {
      try {
        await join()
        return
      } catch (error) {
        const retry = !(error instanceof CallFailure) || error.rejoin
        if (!retry || Date.now() - began > 120_000) {
          teardown()
          fail(error instanceof CallFailure ? error.message : `The call could not start: ${(error as Error).message}`)
          say('Not in the call.', 'failed')
          showLeft('You are not in the call.')
          return
        }
        say(`${(error as Error).message} Trying again…`, 'rejoining')
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  }
  joining = attempt().finally(() => {
    joining = undefined
    const why = rejoinAfter
    rejoinAfter = undefined
    if (why !== undefined) rejoin(why)
  })
}

/** Out of the call (left, or it failed): the devices go off; Join again opens them. */
function showLeft(text: string): void {
  wanted = false
  rejoinAfter = undefined
  microphone?.stop()
  camera?.stop()
  screenTrack?.stop()
  screenTrack = undefined
  toggle($<HTMLButtonElement>('share'), false, ['Share screen', 'Stop sharing'])
  preview.srcObject = null
  myTile.tile.hidden = true
  $('left-text').textContent = text
  $('room').hidden = true
  $('lobby').hidden = true
  $('left').hidden = false
  $('rejoin').focus()
}

async function setPaused(source: 'mic' | 'camera', paused: boolean): Promise<void> {
  const producer = producers.get(source)
  if (producer === undefined) return
  if (paused) producer.pause()
  else producer.resume()
  await request({method: paused ? 'pauseProducer' : 'resumeProducer', producerId: producer.id}).catch(() => undefined)
}

// --- events from the room ----------------------------------------------------------------------
/** Who came and went, said once in the call: a join under way says its own outcome (the room's people may arrive as news before its answer). */
const tell = (text: string): void => {
  if (state.phase === 'in-call') say(text, 'in-call')
}
socket.on('callEvent', (event: CallEvent) => {
  if (!wanted) return
  switch (event.type) {
    case 'peerJoined':
      peerOf(event.peer, event.name)
      tell(`${event.name} joined.`)
      break
    case 'peerLeft': {
      removePending((entry) => entry.peer === event.peer)
      goneWhileJoining.peers.add(event.peer)
      const name = peers.get(event.peer)?.name
      dropPeer(event.peer)
      if (name !== undefined) tell(`${name} left.`)
      break
    }
    case 'newProducer': {
      const peer = peers.get(event.peer)
      consume(event.peer, peer?.name ?? UNNAMED, event.producer).catch((error: unknown) => {
        // The call is gone from its server: join again; anything else costs only this track.
        if (error instanceof CallFailure && error.rejoin) rejoin(error.message)
        else console.warn('consume failed', error)
      })
      break
    }
    case 'producerClosed':
    case 'producerPaused': {
      if (event.type === 'producerClosed') {
        removePending((entry) => entry.producer.id === event.producerId)
        goneWhileJoining.producers.add(event.producerId)
      }
      for (const entry of pending) if (event.type === 'producerPaused' && entry.producer.id === event.producerId) entry.producer.paused = event.paused
      const peer = peers.get(event.peer)
      const producer = peer?.producers.get(event.producerId)
      if (peer === undefined || producer === undefined) break
      if (event.type === 'producerClosed') peer.producers.delete(event.producerId)
      else producer.paused = event.paused
      refreshPeer(event.peer)
      break
    }
    case 'consumerClosed': {
      const entry = consumers.get(event.consumerId)
      if (entry === undefined) break
      entry.consumer.close()
      consumers.delete(event.consumerId)
      refreshPeer(entry.peer)
      break
    }
    case 'activeSpeaker': {
      state.speaker = event.peer
      for (const peer of peers.values()) peer.tile.classList.toggle('speaking', peer.tile.dataset.peer === event.peer)
      // The one speaking comes first, where the eye starts.
      const speaking = event.peer === null ? undefined : peers.get(event.peer)
      if (speaking !== undefined && tiles.firstElementChild !== speaking.tile) tiles.prepend(speaking.tile)
      break
    }
    case 'roomClosed':
      rejoin(event.reason)
      break
  }
})
socket.on('connect_error', (error: Error) => {
  fail(error.message)
  // Refused by the site (a moment's trouble): Socket.IO does not try again by itself after a refusal.
  if (!/log in/i.test(error.message)) setTimeout(() => socket.connect(), 3000)
})
let connectedBefore = false
socket.on('connect', () => {
  calm()
  // The server left the call when the connection dropped: join again.
  if (connectedBefore && wanted) rejoin('Reconnected: joining the call again…')
  connectedBefore = true
})
socket.on('disconnect', () => {
  if (wanted) say('The connection to the site dropped: reconnecting…', 'rejoining')
})

// --- controls ----------------------------------------------------------------------------------
function toggle(button: HTMLButtonElement, pressed: boolean, labels: readonly [string, string]): void {
  button.setAttribute('aria-pressed', String(pressed))
  button.textContent = pressed ? labels[1] : labels[0]
}

$<HTMLButtonElement>('join').addEventListener('click', () => {
  wanted = true
  state.rejoins = 0
  calm()
  $('lobby').hidden = true
  $('left').hidden = true
  $('room').hidden = false
  toggle($<HTMLButtonElement>('mute'), microphone === undefined, ['Mute', 'Unmute'])
  toggle($<HTMLButtonElement>('camera'), camera === undefined, ['Camera off', 'Camera on'])
  // Mute first: a second Enter must not leave the call.
  $<HTMLButtonElement>('mute').focus()
  start()
})
$<HTMLButtonElement>('rejoin').addEventListener('click', () => {
  $('left').hidden = true
  $('lobby').hidden = false
  calm()
  $<HTMLButtonElement>('join').focus()
  openDevices()
    .then(() => say('Ready: check the preview, then join.', 'lobby'))
    .catch((error: unknown) => fail(`The browser gave no camera or microphone (${(error as Error).message}): you can still join to listen and watch.`))
})

for (const [id, source, labels] of [['mute', 'mic', ['Mute', 'Unmute']], ['camera', 'camera', ['Camera off', 'Camera on']]] as const) {
  const button = $<HTMLButtonElement>(id)
  button.addEventListener('click', () => {
    void (async () => {
      const off = button.getAttribute('aria-pressed') !== 'true'
      if (off || producers.has(source)) {
        // At once: the click is felt before the server hears of it.
        toggle(button, off, labels)
        await setPaused(source, off)
        showMine()
        return
      }
      {
        // Joined without it: ask the browser for it now.
        try {
          const media = await navigator.mediaDevices.getUserMedia(source === 'mic' ? {audio: true} : {video: {width: {ideal: 1280}, height: {ideal: 720}}})
          const track = source === 'mic' ? media.getAudioTracks()[0] : media.getVideoTracks()[0]
          if (track === undefined) return
          if (source === 'mic') microphone = track
          else camera = track
          await produce(source, track)
        } catch (error) {
          fail(`The browser gave no ${source === 'mic' ? 'microphone' : 'camera'}: ${(error as Error).message}. Allow it in the address bar.`)
          return
        }
      }
      toggle(button, off, labels)
      showMine()
    })()
  })
}

$<HTMLButtonElement>('share').addEventListener('click', () => {
  void (async () => {
    const button = $<HTMLButtonElement>('share')
    const stopShare = async (): Promise<void> => {
      const producer = producers.get('screen')
      screenTrack?.stop()
      screenTrack = undefined
      producers.delete('screen')
      if (producer !== undefined) {
        producer.close()
        await request({method: 'closeProducer', producerId: producer.id}).catch(() => undefined)
      }
      toggle(button, false, ['Share screen', 'Stop sharing'])
    }
    if (screenTrack !== undefined) return stopShare()
    try {
      const media = await navigator.mediaDevices.getDisplayMedia({video: {frameRate: {max: 15}}, audio: false})
      screenTrack = media.getVideoTracks()[0]
      if (screenTrack === undefined) return
      // The browser's own "Stop sharing" button.
      screenTrack.addEventListener('ended', () => void stopShare())
      await produce('screen', screenTrack)
      toggle(button, true, ['Share screen', 'Stop sharing'])
    } catch (error) {
      if ((error as Error).name !== 'NotAllowedError') fail(`The screen could not be shared: ${(error as Error).message}`)
    }
  })()
})

$<HTMLButtonElement>('leave').addEventListener('click', () => {
  wanted = false
  clearTimeout(rejoinTimer)
  rejoinTimer = undefined
  request({method: 'leave'}).catch(() => undefined)
  teardown()
  say('You left the call.', 'left')
  showLeft('You left the call.')
})

for (const id of ['join-camera', 'join-mic']) {
  $<HTMLInputElement>(id).addEventListener('change', () => {
    openDevices().catch((error: unknown) => fail(`The browser gave no camera or microphone: ${(error as Error).message}`))
  })
}

// Phones have no screen to share.
if (typeof navigator.mediaDevices?.getDisplayMedia !== 'function') $('share').hidden = true

// --- start -------------------------------------------------------------------------------------
if (!window.isSecureContext || navigator.mediaDevices === undefined) {
  fail("This browser cannot make calls from this page: it needs a secure (https://) site. Ask the site's admin to turn TLS on.")
  say('Calls need a secure site.', 'failed')
} else {
  openDevices()
    .catch((error: unknown) => {
      fail(`The browser gave no camera or microphone (${(error as Error).message}): you can still join to listen and watch, or allow them in the address bar and reload.`)
    })
    .finally(() => {
      $<HTMLButtonElement>('join').disabled = false
      say('Ready: check the preview, then join.', 'lobby')
    })
}

// Runs in Chromium (bundled by build-page.ts): sends the fake camera to mediasoup and plays
// what mediasoup sends back. Signalling goes through window.shingSignal, which the test exposes.
import {Device} from 'mediasoup-client'
import type {types} from 'mediasoup-client'

import type {SignalMethod, SignalMethods, SignalRequest} from '../mediasoup.js'

export interface LoopbackResult {
  handlerName: string
  producerId: string
  consumerId: string
}

declare global {
  interface Window {
    shingSignal(request: SignalRequest): Promise<unknown>
    shingLoopback(): Promise<LoopbackResult>
    /** performance.now() when #remote presented its first decoded frame. */
    shingFirstRemoteFrameAt?: number
  }
}

type ServerRtpParameters = SignalMethods['produce']['params']['rtpParameters']
type ServerRtpCapabilities = SignalMethods['consume']['params']['rtpCapabilities']

async function signal<M extends SignalMethod>(method: M, params: SignalMethods[M]['params']): Promise<SignalMethods[M]['result']> {
  // The server's types describe the wire format both sides agree on.
  return (await window.shingSignal({method, params} as SignalRequest)) as SignalMethods[M]['result']
}

function videoElement(id: string): HTMLVideoElement {
  const video = document.querySelector<HTMLVideoElement>(`#${id}`)
  if (video === null) throw new Error(`no #${id} video element`)
  return video
}

async function createTransport(device: Device, direction: 'send' | 'recv'): Promise<types.Transport> {
  const info = await signal('createTransport', {direction})
  const transport = direction === 'send' ? device.createSendTransport(info) : device.createRecvTransport(info)
  transport.on('connect', ({dtlsParameters}, callback, errback) => {
    signal('connectTransport', {transportId: transport.id, dtlsParameters}).then(() => callback(), errback)
  })
  if (direction === 'send') {
    transport.on('produce', ({kind, rtpParameters}, callback, errback) => {
      // mediasoup-client knows one header extension URI more than the server's type; the server checks.
      signal('produce', {transportId: transport.id, kind, rtpParameters: rtpParameters as ServerRtpParameters}).then(callback, errback)
    })
  }
  return transport
}

window.shingLoopback = async (): Promise<LoopbackResult> => {
  const device = new Device()
  // The server knows a header extension URI (toffset) the client's types do not; the client skips it.
  await device.load({routerRtpCapabilities: (await signal('getRouterRtpCapabilities', {})) as types.RtpCapabilities})

  const camera = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360}})
  const local = videoElement('local')
  local.srcObject = camera
  const [track] = camera.getVideoTracks()
  if (track === undefined) throw new Error('the fake camera gave no video track')
  const sendTransport = await createTransport(device, 'send')
  const producer = await sendTransport.produce({track})

  const recvTransport = await createTransport(device, 'recv')
  const offer = await signal('consume', {
    transportId: recvTransport.id,
    producerId: producer.id,
    rtpCapabilities: device.rtpCapabilities as ServerRtpCapabilities,
  })
  const consumer = await recvTransport.consume(offer as types.ConsumerOptions)
  const remote = videoElement('remote')
  remote.requestVideoFrameCallback((now) => {
    window.shingFirstRemoteFrameAt = now
  })
  remote.srcObject = new MediaStream([consumer.track])
  await signal('resumeConsumer', {consumerId: consumer.id})
  await remote.play()
  return {handlerName: device.handlerName, producerId: producer.id, consumerId: consumer.id}
}

import {existsSync} from 'node:fs'
import {once} from 'node:events'
import * as mediasoup from 'mediasoup'
import type {types} from 'mediasoup'

import {HarnessError} from './process.js'

// VP8 + opus: what every browser sends without negotiation surprises.
const mediaCodecs: types.RouterRtpCodecCapability[] = [
  {kind: 'audio', mimeType: 'audio/opus', clockRate: 48_000, channels: 2},
  {kind: 'video', mimeType: 'video/VP8', clockRate: 90_000},
]

export interface TransportInfo {
  id: string
  iceParameters: types.IceParameters
  iceCandidates: types.IceCandidate[]
  dtlsParameters: types.DtlsParameters
}

/** The signalling a mediasoup-client page needs: method → params and result. */
export interface SignalMethods {
  getRouterRtpCapabilities: {params: Record<string, never>; result: types.RtpCapabilities}
  createTransport: {params: {direction: 'send' | 'recv'}; result: TransportInfo}
  connectTransport: {params: {transportId: string; dtlsParameters: types.DtlsParameters}; result: Record<string, never>}
  produce: {params: {transportId: string; kind: types.MediaKind; rtpParameters: types.RtpParameters}; result: {id: string}}
  consume: {
    params: {transportId: string; producerId: string; rtpCapabilities: types.RtpCapabilities}
    result: {id: string; producerId: string; kind: types.MediaKind; rtpParameters: types.RtpParameters}
  }
  resumeConsumer: {params: {consumerId: string}; result: Record<string, never>}
}
export type SignalMethod = keyof SignalMethods
export type SignalRequest = {[M in SignalMethod]: {method: M; params: SignalMethods[M]['params']}}[SignalMethod]

export interface RunningMediasoup {
  /** mediasoup.version, e.g. "3.19.3". */
  readonly version: string
  readonly worker: types.Worker
  readonly router: types.Router
  readonly producers: ReadonlyMap<string, types.Producer>
  readonly consumers: ReadonlyMap<string, types.Consumer>
  /** Answers one signalling request (wire it to the page, e.g. with page.exposeFunction). */
  signal(request: SignalRequest): Promise<SignalMethods[SignalMethod]['result']>
  /** Closes the worker and waits for its process to end. */
  close(): Promise<void>
}

export async function startMediasoup(): Promise<RunningMediasoup> {
  // mediasoup looks here (or at MEDIASOUP_WORKER_BIN); without it createWorker fails with a bare ENOENT.
  if (!existsSync(mediasoup.workerBin)) {
    throw new HarnessError(`mediasoup worker not built: run scripts/install-test-deps.sh (missing ${mediasoup.workerBin})`)
  }
  let worker: types.Worker
  try {
    worker = await mediasoup.createWorker({logLevel: 'warn'})
  } catch (error) {
    throw new HarnessError(`mediasoup worker ${mediasoup.workerBin} failed to start: ${(error as Error).message}`)
  }
  const subprocessClosed = worker.subprocessClosed ? Promise.resolve() : once(worker, 'subprocessclose')
  let router: types.Router
  try {
    router = await worker.createRouter({mediaCodecs})
  } catch (error) {
    worker.close()
    throw new HarnessError(`mediasoup: createRouter failed: ${(error as Error).message}`)
  }

  const transports = new Map<string, types.WebRtcTransport>()
  const producers = new Map<string, types.Producer>()
  const consumers = new Map<string, types.Consumer>()
  const transport = (id: string): types.WebRtcTransport => {
    const found = transports.get(id)
    if (found === undefined) throw new HarnessError(`mediasoup: no transport ${id}`)
    return found
  }

  // One handler per method: adding a method without a handler does not compile.
  const handlers: {[M in SignalMethod]: (params: SignalMethods[M]['params']) => Promise<SignalMethods[M]['result']>} = {
    getRouterRtpCapabilities: async () => router.rtpCapabilities,
    createTransport: async ({direction}) => {
      const created = await router.createWebRtcTransport({
        listenInfos: [{protocol: 'udp', ip: '127.0.0.1'}],
        appData: {direction},
      })
      transports.set(created.id, created)
      const {id, iceParameters, iceCandidates, dtlsParameters} = created
      return {id, iceParameters, iceCandidates, dtlsParameters}
    },
    connectTransport: async ({transportId, dtlsParameters}) => {
      await transport(transportId).connect({dtlsParameters})
      return {}
    },
    produce: async ({transportId, kind, rtpParameters}) => {
      const producer = await transport(transportId).produce({kind, rtpParameters})
      producers.set(producer.id, producer)
      return {id: producer.id}
    },
    consume: async ({transportId, producerId, rtpCapabilities}) => {
      if (!router.canConsume({producerId, rtpCapabilities})) {
        throw new HarnessError(`mediasoup: the page cannot consume producer ${producerId}`)
      }
      // Paused until the page has its track wired, so the first keyframe is not lost.
      const consumer = await transport(transportId).consume({producerId, rtpCapabilities, paused: true})
      consumers.set(consumer.id, consumer)
      return {id: consumer.id, producerId, kind: consumer.kind, rtpParameters: consumer.rtpParameters}
    },
    resumeConsumer: async ({consumerId}) => {
      const consumer = consumers.get(consumerId)
      if (consumer === undefined) throw new HarnessError(`mediasoup: no consumer ${consumerId}`)
      await consumer.resume()
      return {}
    },
  }
  const signal = (request: SignalRequest): Promise<SignalMethods[SignalMethod]['result']> => {
    // TypeScript cannot correlate method and params through the union; each pair is checked above.
    const handler = handlers[request.method] as (params: SignalRequest['params']) => Promise<SignalMethods[SignalMethod]['result']>
    return handler(request.params)
  }

  const close = async (): Promise<void> => {
    worker.close()
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5_000).unref())
    if ((await Promise.race([subprocessClosed, timeout])) === 'timeout') {
      process.kill(worker.pid, 'SIGKILL')
      throw new HarnessError(`mediasoup worker ${worker.pid} did not exit within 5 s of close (killed)`)
    }
  }

  return {version: mediasoup.version, worker, router, producers, consumers, signal, close}
}

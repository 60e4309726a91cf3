import {timingSafeEqual} from 'node:crypto'
import {lookup} from 'node:dns/promises'
import {once} from 'node:events'
import {isIP} from 'node:net'
import os from 'node:os'

import {Redis} from 'ioredis'
import * as mediasoup from 'mediasoup'
import type {types} from 'mediasoup'

import {CALL_EVENTS_CHANNEL, callEventMessageSchema, callPresenceKey, SFU_RPC_PATH, sfuRpcSchema, sfuRpcToken} from '../contract/index.js'
import type {ComponentContext, RunningComponent} from '../platform/component.js'
import type {ApplianceEnv} from '../platform/env.js'
import {redisCheck} from '../platform/checks.js'
import {createHttpServer, listen, type HealthCheck} from '../platform/http-server.js'
import {safeJson} from '../platform/json.js'
import {reconnectDelay} from '../platform/redis.js'
import {startHeartbeat} from '../registry/heartbeat.js'
import {listNodes} from '../registry/nodes.js'
import {CallRooms, type CallWorker} from './call-rooms.js'
import {askSfu} from './rpc-client.js'
import {startTurn, type RunningTurn} from './turn-server.js'

/** What browsers send without negotiation surprises: Opus, VP8 (simulcast), H.264. */
export const mediaCodecs: types.RouterRtpCodecCapability[] = [
  {kind: 'audio', mimeType: 'audio/opus', clockRate: 48_000, channels: 2},
  {kind: 'video', mimeType: 'video/VP8', clockRate: 90_000},
  {kind: 'video', mimeType: 'video/H264', clockRate: 90_000, parameters: {'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1}},
  // Encoders publishing over WHIP (OBS with x264 or NVENC, browsers) send Main, High or Constrained High.
  {kind: 'video', mimeType: 'video/H264', clockRate: 90_000, parameters: {'packetization-mode': 1, 'profile-level-id': '4d001f', 'level-asymmetry-allowed': 1}},
  {kind: 'video', mimeType: 'video/H264', clockRate: 90_000, parameters: {'packetization-mode': 1, 'profile-level-id': '64001f', 'level-asymmetry-allowed': 1}},
  {kind: 'video', mimeType: 'video/H264', clockRate: 90_000, parameters: {'packetization-mode': 1, 'profile-level-id': '640c1f', 'level-asymmetry-allowed': 1}},
]

interface WorkerSlot extends CallWorker {
  /** Why it died, once it has. */
  death?: string
}

/**
 * The address browsers reach this box's WebRTC ports at, as an IP (ICE candidates carry
 * addresses): SHING_WEBRTC_ANNOUNCED_ADDRESS, else this box's public name (or the site's),
 * resolved. Undefined where the bound address is itself the one to announce.
 */
export async function announcedAddress(env: Pick<ApplianceEnv, 'SHING_WEBRTC_ANNOUNCED_ADDRESS' | 'SHING_BIND_HOST' | 'SHING_BOX_PUBLIC_HOST' | 'SHING_PUBLIC_HOST'>): Promise<string | undefined> {
  if (env.SHING_WEBRTC_ANNOUNCED_ADDRESS !== undefined) return env.SHING_WEBRTC_ANNOUNCED_ADDRESS
  if (env.SHING_BIND_HOST !== '0.0.0.0' && env.SHING_BIND_HOST !== '::') return undefined
  const name = (env.SHING_BOX_PUBLIC_HOST ?? env.SHING_PUBLIC_HOST).replace(/^\[(.*)\](:\d+)?$/, '$1').replace(/:\d+$/, '')
  if (isIP(name) !== 0) return name
  try {
    return (await lookup(name)).address
  } catch (error) {
    throw new Error(`the SFU cannot tell browsers where to send media: ${name} does not resolve (${(error as Error).message}). Set site.publicHost to a name that resolves, or ports.webrtc.announcedAddress in shing.yaml to this box's public IP.`, {cause: error})
  }
}

/**
 * SFU: mediasoup workers (profile sfu.workers, 0 = one per CPU), and the calls on them
 * (call-rooms.ts), which the web forwards here. Health fails as soon as any worker dies, so swarm
 * replaces the task; its rooms are told to join again, and the web places them elsewhere.
 */
export async function startSfu(ctx: ComponentContext<'sfu'>): Promise<RunningComponent> {
  const {log, metrics, redis, env} = ctx
  const count = env.profile.sfu.workers === 0 ? os.availableParallelism() : env.profile.sfu.workers
  const ports = env.SHING_WEBRTC_MAX_PORT - env.SHING_WEBRTC_MIN_PORT + 1
  if (ports < count) {
    throw new Error(`the SFU runs ${count} mediasoup workers, each on a port of its own, but ports.webrtc gives ${ports} (${env.SHING_WEBRTC_MIN_PORT}-${env.SHING_WEBRTC_MAX_PORT}): widen the range in shing.yaml to at least ${count} ports`)
  }
  const announced = await announcedAddress(env)
  const slots: WorkerSlot[] = []
  let stopping = false
  try {
    for (let i = 0; i < count; i += 1) {
      const worker = await mediasoup.createWorker({logLevel: 'warn'})
      // Worker i listens on SHING_WEBRTC_MIN_PORT + i, UDP and TCP, for all its calls' transports.
      const listen = {ip: env.SHING_BIND_HOST, port: env.SHING_WEBRTC_MIN_PORT + i, ...(announced === undefined ? {} : {announcedAddress: announced})}
      const webRtcServer = await worker.createWebRtcServer({listenInfos: [{protocol: 'udp', ...listen}, {protocol: 'tcp', ...listen}]}).catch((error: unknown) => {
        worker.close()
        throw new Error(`WebRTC port ${listen.port} (UDP and TCP, ports.webrtc) cannot be bound: stop what holds it (ss -lunp; ss -ltnp), or move ports.webrtc in shing.yaml`, {cause: error})
      })
      const slot: WorkerSlot = {worker, webRtcServer, mediaCodecs, peers: 0, consumers: 0}
      worker.on('died', (error) => {
        slot.death = error.message
        if (!stopping) log.error({workerPid: worker.pid, err: error.message}, 'mediasoup worker died')
      })
      slots.push(slot)
    }
  } catch (error) {
    for (const slot of slots) slot.worker.close()
    throw new Error(`mediasoup worker failed to start (${mediasoup.workerBin}): ${(error as Error).message}`, {cause: error})
  }
  log.info({workers: count, pids: slots.map((s) => s.worker.pid), version: mediasoup.version}, 'mediasoup workers running')

  const alive = (): WorkerSlot[] => slots.filter((s) => s.death === undefined && !s.worker.closed)
  const workersCheck: HealthCheck = {
    name: 'mediasoup',
    kind: 'self',
    run: async () => {
      const dead = slots.filter((s) => !alive().includes(s))
      if (dead.length > 0) throw new Error(dead.map((s) => `worker ${s.worker.pid} ${s.death === undefined ? 'closed' : `died: ${s.death}`}`).join('; '))
      // Alive is not enough: each must answer a request over its channel.
      await Promise.all(slots.map((s) => s.worker.getResourceUsage()))
    },
  }
  const rpcToken = sfuRpcToken(ctx.secret('streamKeySecret'))
  const calls = new CallRooms({
    self: {id: ctx.id, host: ctx.host, http: ctx.ports.http},
    workers: alive,
    consumersPerWorker: env.profile.sfu.consumersPerWorker,
    // Plain RTP is for components on the overlay network: the task's own address.
    plainListen: {ip: env.SHING_BIND_HOST, ...(env.SHING_BIND_HOST === '0.0.0.0' ? {announcedAddress: ctx.host} : {})},
    publish: (message) => {
      redis.publish(CALL_EVENTS_CHANNEL, JSON.stringify(message)).catch((error: unknown) => log.warn({room: message.room, err: (error as Error).message}, 'call event not published'))
    },
    present: async (peers) => (await redis.mget(peers.map(callPresenceKey))).map((value) => value !== null),
    // A room that spans processes: its SFUs ask each other with the token they share.
    ask: async (sfu, body) => askSfu({id: sfu.id, host: sfu.host, ports: {http: sfu.http}}, rpcToken, body),
    alive: async () => new Set((await listNodes(redis, 'sfu')).map((node) => node.id)),
    locate: async (id) => {
      const node = (await listNodes(redis, 'sfu')).find((n) => n.id === id)
      return node?.ports.http === undefined ? undefined : {id, host: node.host, http: node.ports.http}
    },
    log: log.child({module: 'calls'}),
  })
  // What the room's other SFU processes say (a room that spans processes): its own connection, as subscribers take no other commands.
  const events = new Redis({...ctx.redisEndpoint, connectionName: 'sfu-calls', retryStrategy: reconnectDelay, maxRetriesPerRequest: null})
  events.on('error', (error: Error) => log.debug({err: error.message}, 'calls redis error'))
  events.subscribe(CALL_EVENTS_CHANNEL).catch((error: unknown) => log.warn({err: (error as Error).message}, 'calls: not subscribed; rooms that span SFUs miss what changes'))
  events.on('message', (_channel, message) => {
    const parsed = callEventMessageSchema.safeParse(safeJson(message))
    if (parsed.success) calls.onEvent(parsed.data)
  })
  log.info({announced: announced ?? env.SHING_BIND_HOST, ports: `${env.SHING_WEBRTC_MIN_PORT}-${env.SHING_WEBRTC_MIN_PORT + count - 1}`}, 'WebRTC: browsers send media here (UDP, or TCP)')
  metrics.gauge('shing_sfu_workers', 'mediasoup workers this SFU runs (configured)', () => count)
  metrics.gauge('shing_sfu_workers_alive', 'mediasoup workers alive', () => alive().length)
  metrics.gauge('shing_sfu_routers', 'mediasoup routers open for calls (a room on several workers has one on each)', () => calls.load().routers)

  // TURN on the ports of the range the workers leave: the stack publishes the whole range already.
  let turn: RunningTurn | undefined
  let turnEnded: string | undefined
  if (env.SHING_TURN_PORT !== undefined) {
    turn = await startTurn(
      {
        port: env.SHING_TURN_PORT,
        bindHost: env.SHING_BIND_HOST,
        address: announced ?? env.SHING_BIND_HOST,
        relayPorts: {min: env.SHING_WEBRTC_MIN_PORT + count, max: env.SHING_WEBRTC_MAX_PORT},
        realm: new URL(env.SHING_PUBLIC_URL).hostname,
        streamKeySecret: ctx.secret('streamKeySecret'),
      },
      log.child({module: 'turn'}),
    ).catch((error: unknown) => {
      for (const slot of slots) slot.worker.close()
      throw error
    })
    void turn.exited.then((how) => {
      turnEnded = how
      if (!stopping) log.error({how}, 'the TURN server stopped')
    })
  }
  const turnCheck: HealthCheck = {
    name: 'turn',
    kind: 'self',
    run: async () => {
      if (turnEnded !== undefined) throw new Error(`the TURN server (coturn) stopped: ${turnEnded}`)
    },
  }
  const app = createHttpServer({component: 'sfu', checks: [redisCheck(redis), workersCheck, ...(turn === undefined ? [] : [turnCheck])], metrics, log})
  metrics.gauge('shing_sfu_call_rooms', 'Call rooms open on this SFU', () => calls.load().rooms)
  metrics.gauge('shing_sfu_call_participants', 'Call participants on this SFU', () => calls.load().peers)
  metrics.gauge('shing_sfu_consumers', 'Media streams this SFU sends to participants', () => calls.load().consumers)
  // The web's forwarded call requests: only components holding the stream-key secret may ask.
  app.post(SFU_RPC_PATH, {bodyLimit: 256 * 1024}, async (request, reply) => {
    const given = Buffer.from(request.headers.authorization ?? '')
    const wanted = Buffer.from(`Bearer ${rpcToken}`)
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return reply.code(401).send({ok: false, error: 'unauthorized'})
    const rpc = sfuRpcSchema.safeParse(request.body)
    if (!rpc.success) return reply.code(400).send({ok: false, error: `bad request: ${rpc.error.issues[0]?.message ?? 'invalid'}`})
    if (stopping) return {ok: false, error: 'This call server is restarting: joining again…', rejoin: true}
    return calls.handle(rpc.data)
  })
  await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})

  const heartbeat = startHeartbeat({
    redis,
    role: 'sfu',
    id: ctx.id,
    host: ctx.host,
    // Where browsers reach this box (its TURN server): the announced address, else the box's name.
    ...(announced !== undefined ? {publicHost: announced} : env.SHING_BOX_PUBLIC_HOST === undefined ? {} : {publicHost: env.SHING_BOX_PUBLIC_HOST}),
    ports: {http: ctx.ports.http, rtcMin: env.SHING_WEBRTC_MIN_PORT, rtcMax: env.SHING_WEBRTC_MAX_PORT, ...(turn === undefined ? {} : {turn: env.SHING_TURN_PORT!})},
    load: async () => {
      // The media work happens in the workers: count their CPU with this process's.
      const usage = await Promise.all(alive().map((s) => s.worker.getResourceUsage().catch(() => undefined)))
      const workerMs = usage.reduce((sum, u) => sum + (u === undefined ? 0 : u.ru_utime + u.ru_stime), 0)
      const {rooms, peers, producers, consumers} = calls.load()
      const capacity = alive().length * env.profile.sfu.consumersPerWorker
      return {streams: producers, viewers: consumers, rooms, participants: peers, egressBitsPerSecond: 0, slotsUsed: consumers, slotsFree: Math.max(0, capacity - consumers), extraCpuMicros: workerMs * 1000}
    },
    log,
  })

  return {
    stop: async () => {
      stopping = true
      await heartbeat.stop()
      // Browsers join again at once, on another SFU, rather than after their network times out.
      calls.closeAll('This call server is restarting: joining again…')
      events.disconnect()
      await app.close()
      // Wait for the worker processes to be gone, so none outlives the container's main process.
      const exited = slots.map((s) => (s.worker.subprocessClosed ? Promise.resolve() : once(s.worker, 'subprocessclose').then(() => undefined)))
      for (const slot of slots) slot.worker.close()
      await Promise.race([Promise.all([...exited, turn?.stop()]), new Promise((r) => setTimeout(r, 3000))])
    },
  }
}

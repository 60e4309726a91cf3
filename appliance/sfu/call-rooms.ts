/**
 * Calls on one SFU process: its rooms, each one or more mediasoup Routers (parts) on the process's
 * workers, with the participants' WebRTC transports, producers and consumers. A room starts on the
 * least busy worker; a participant who would take that worker past its consumer budget goes to a
 * part of the room on another worker, and every producer is piped to every part (pipeToRouter),
 * so a big room uses more than one core. The web forwards
 * each browser's request here (SFU_RPC_PATH); what changes in a room goes to its browsers through
 * Redis (CALL_EVENTS_CHANNEL). A participant whose browser went away without saying so (a closed
 * tab, a web instance that died) is dropped when their transports stop answering.
 *
 * A room that outgrows its SFU process continues on others (the web places its next participants
 * there and names the room's own process, its hub). Each such process links to the hub with a pair
 * of mediasoup pipe transports; over that link each side sends the other what its participants
 * produce, and each side hears the other's news on CALL_EVENTS_CHANNEL. Everyone elsewhere is a
 * remote peer here, whose producers are the link's pipe producers: to a browser they are
 * participants like any other. The hub passes each linked process's participants on to the others,
 * so every process of the room sees everyone (a star: media between two linked processes goes
 * through the hub).
 */
import {lookup} from 'node:dns/promises'
import {isIP} from 'node:net'

import {isSameProfile} from 'h264-profile-level-id'
import type {types} from 'mediasoup'

import {
  CALL_MAX_PARTICIPANTS,
  CALL_PRESENCE_REFRESH_MS,
  type CallAck,
  type CallEvent,
  type CallEventMessage,
  type CallMethod,
  type CallPeerView,
  type CallProducerView,
  type CallRequest,
  type CallResults,
  type MediaSource,
  type PipedPeerView,
  type PipedProducerView,
  type SfuAddress,
  type SfuRpc,
} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {SfuUnreachable} from './rpc-client.js'

/** A participant whose transport was told to connect (DTLS) but whose ICE never connected is dropped after this. */
const CONNECT_DEADLINE_MS = 45_000
/** What one participant may receive at once: every other participant's microphone, camera and screen. */
const CONSUMERS_PER_PEER = (CALL_MAX_PARTICIPANTS - 1) * 3
/** A participant whose transports lost their network is dropped after this (a short blink survives). */
const DISCONNECTED_GRACE_MS = 20_000

/** What a call needs from a worker of this process. */
export interface CallWorker {
  worker: types.Worker
  /** The worker's one UDP and TCP port, shared by all its transports (ICE tells them apart). */
  webRtcServer: types.WebRtcServer
  mediaCodecs: types.RouterRtpCodecCapability[]
  /** Participants on this worker's routers (where the next room goes: the fewest). */
  peers: number
  /** Media streams this worker sends to participants. */
  consumers: number
}

export interface CallRoomsOptions {
  /** The workers alive now. */
  workers: () => CallWorker[]
  /** Consumers one worker carries before a room's next participants go to another worker. */
  consumersPerWorker: number
  /** Where plain RTP transports (components: a compositor, a benchmark) listen, and the address they announce. */
  plainListen: {ip: string; announcedAddress?: string}
  /** This process: its registry id (rooms closed here name it), and where the others reach it. */
  self: SfuAddress
  publish: (message: CallEventMessage) => void
  /** A request to another SFU process (a room that spans processes). */
  ask: (sfu: SfuAddress, body: SfuRpc) => Promise<CallAck>
  /** The SFU processes in the registry now: a link to one that left it is dropped. Undefined when it cannot be told. */
  alive?: () => Promise<Set<string>>
  /** Where an SFU process of the registry answers (a link is made only with one there, at its registered address). */
  locate?: (id: string) => Promise<SfuAddress | undefined>
  /** Whether each participant's page is still connected to a web instance (contract: callPresenceKey); undefined when it cannot be told. */
  present?: (peers: string[]) => Promise<boolean[] | undefined>
  log: Logger
}

/** A refusal said to the person; `rejoin`: joining again (elsewhere) may help. */
export class CallError extends Error {
  constructor(message: string, readonly rejoin = false) {
    super(message)
  }
}

interface Peer {
  id: string
  /** The part of the room (router) this participant's transports are on. */
  part: RoomPart
  userId: string
  name: string
  rtpCapabilities?: types.RtpCapabilities
  transports: Map<string, types.WebRtcTransport | types.PlainTransport>
  /** A component's own peer (contract: SfuRpc.internal): no participant limits. */
  internal: boolean
  /** Someone on another SFU process of the room (its id): their producers are pipe producers of that link. */
  remote?: string
  joinedAt: number
  producers: Map<string, types.Producer>
  consumers: Map<string, types.Consumer>
  /** Per transport: the deadline of its connection, or the grace of its lost network. */
  timers: Map<string, NodeJS.Timeout>
}

/** A room's router on one worker, and who is on it. */
interface RoomPart {
  router: types.Router
  worker: CallWorker
  /** Sees every audio producer of the room (its own and those piped in); the first part's speaks. */
  speaker: types.ActiveSpeakerObserver
  peers: number
  /**
   * Producers of other parts already piped into this one (a producer is piped once), by their id
   * in the room, to their id here: the same, unless the two parts share a worker (mediasoup then
   * gives the pipe producer an id of its own).
   */
  piped: Map<string, string>
  /**
   * A part for receivers that number codecs their own way (WHEP players: their offer's payload
   * types), made with those numbers: which ones. Only such receivers go to it.
   */
  flavour?: string
  /** Settles once the room's producers are piped in: a peer placed here waits for it. */
  ready: Promise<void>
}

/** The pipe transports between this process and another of the same room. */
interface Link {
  sfu: SfuAddress
  transport: types.PipeTransport
  /** The part of the room the link's transport is on (its pipe producers are, and consumers read from). */
  part: RoomPart
  /** Producers of this process sent over the link (being) already: their pipe consumers, by producer id. */
  sent: Map<string, Promise<types.Consumer>>
  since: number
  /** Sweeps in a row that found nobody from the other side (the hub drops such a link). */
  emptySweeps: number
  /** What the last check of the other side's roster found amiss: mended if the next finds it still so. */
  amiss: Set<string>
  /** What the other side said, applied in its order. */
  queue: Promise<void>
}

interface Room {
  id: string
  /** Where the room is hubbed, when it continues here from another process (absent: this is its hub). */
  hub?: SfuAddress
  /** The other processes of the room, by registry id: the hub on a spoke, every spoke on the hub. */
  links: Map<string, Link>
  /** A (re)link to the hub under way: joins wait for it. */
  linking?: Promise<void>
  /** Joins and links under way: the room does not close under them. */
  pending: number
  /** What the hub said while the link was being made (after its answer's snapshot, maybe): applied once it is. */
  early?: {sfu: string; messages: CallEventMessage[]}
  /** Sweeps in a row that found only components' peers and no producer. */
  idleSweeps: number
  /** The first is where the room started; more when it outgrew that worker. */
  parts: RoomPart[]
  peers: Map<string, Peer>
}

const SWEEP_EVERY_MS = 10_000
/** Numberings (browser versions) one room keeps routers for: more is someone minting them. */
const MAX_FLAVOURS = 8
const IDLE_SWEEPS = 4

/** The peer id an SFU process asks another as. */
const linkPeer = (sfu: string): string => `sfu:${sfu}`.slice(0, 64)
/** An address for a pipe transport's connect, which takes no names. */
const ipOf = async (address: string): Promise<string> => (isIP(address) === 0 ? (await lookup(address)).address : address)

const sourceOf = (producer: types.Producer): MediaSource => (producer.appData as {source: MediaSource}).source
const producerView = (producer: types.Producer): CallProducerView => ({id: producer.id, kind: producer.kind, source: sourceOf(producer), paused: producer.paused})

export class CallRooms {
  private readonly rooms = new Map<string, Room>()
  /** Rooms being made: a second join waits for the first's router. */
  private readonly opening = new Map<string, Promise<Room>>()

  private readonly sweeper: NodeJS.Timeout

  constructor(private readonly options: CallRoomsOptions) {
    this.sweeper = setInterval(() => void this.sweepAbsent(), SWEEP_EVERY_MS)
    this.sweeper.unref()
  }

  /**
   * Drops the people whose page is no longer connected to any web instance (its instance died with
   * it, or a join finished after the web had given up on it), and closes rooms left with only
   * components' peers and nothing sent in them (a WHIP session whose ingest died with it) after
   * IDLE_SWEEPS sweeps.
   */
  private async sweepAbsent(): Promise<void> {
    const alive = this.options.alive === undefined ? undefined : await this.options.alive().catch(() => undefined)
    for (const room of [...this.rooms.values()]) {
      for (const link of [...room.links.values()]) {
        const from = [...room.peers.values()].some((peer) => peer.remote === link.sfu.id)
        link.emptySweeps = from ? 0 : link.emptySweeps + 1
        if (alive !== undefined && !alive.has(link.sfu.id)) this.dropLink(room, link, 'its SFU left the registry')
        // A spoke whose people all left closed its room: the hub lets its link go too.
        else if (room.hub === undefined && link.emptySweeps >= 2 && Date.now() - link.since > 3 * SWEEP_EVERY_MS) this.dropLink(room, link, 'nobody there')
        else this.enqueue(room, link, () => this.reconcile(room, link), 'roster check')
      }
      if (this.rooms.get(room.id) !== room) continue
      const peers = [...room.peers.values()]
      const idle = peers.every((peer) => peer.internal && peer.producers.size === 0)
      room.idleSweeps = idle ? room.idleSweeps + 1 : 0
      if (room.idleSweeps >= IDLE_SWEEPS) {
        this.options.log.info({room: room.id}, 'call: closing a room with no one and nothing sent in it')
        this.closeRoom(room)
      }
    }
    // A page's web instance sets its key as the join is answered and refreshes it: a peer this old has one while its page is there.
    const old = Date.now() - 2 * CALL_PRESENCE_REFRESH_MS
    const candidates = [...this.rooms.values()].flatMap((room) => [...room.peers.values()].filter((peer) => !peer.internal && peer.remote === undefined && peer.joinedAt < old).map((peer) => ({room, peer})))
    if (candidates.length === 0 || this.options.present === undefined) return
    const present = await this.options.present(candidates.map(({peer}) => peer.id)).catch(() => undefined)
    if (present === undefined) return
    candidates.forEach(({room, peer}, i) => {
      if (present[i] === false && room.peers.get(peer.id) === peer) this.removePeer(room, peer, 'page gone')
    })
  }

  /** What the registry record reports. */
  load(): {rooms: number; routers: number; peers: number; producers: number; consumers: number} {
    let peers = 0
    let producers = 0
    let consumers = 0
    let routers = 0
    for (const room of this.rooms.values()) {
      routers += room.parts.length
      // What goes to the room's other processes is sent from here too.
      for (const link of room.links.values()) consumers += link.sent.size
      for (const peer of room.peers.values()) {
        consumers += peer.consumers.size
        // Those on other processes are counted there.
        if (peer.remote !== undefined) continue
        peers += 1
        producers += peer.producers.size
      }
    }
    return {rooms: this.rooms.size, routers, peers, producers, consumers}
  }

  /** One forwarded request; never throws (the ack carries the refusal). */
  async handle(rpc: SfuRpc): Promise<CallAck> {
    try {
      return {ok: true, result: await this.run(rpc)}
    } catch (error) {
      if (error instanceof CallError) return {ok: false, error: error.message, ...(error.rejoin ? {rejoin: true} : {})}
      this.options.log.warn({room: rpc.room, method: rpc.request.method, err: (error as Error).message}, 'call request failed')
      return {ok: false, error: `The call server could not do that (${(error as Error).message}).`}
    }
  }

  /** Tells every room to join again (elsewhere) and closes them: the process is stopping. */
  closeAll(reason: string): void {
    clearInterval(this.sweeper)
    for (const room of [...this.rooms.values()]) {
      this.emit(room, {type: 'roomClosed', reason, sfu: this.options.self.id})
      this.closeRoom(room)
    }
  }

  private async run(rpc: SfuRpc): Promise<CallResults[CallMethod]> {
    const {request} = rpc
    if (request.method === 'join') return this.join(rpc, request)
    if (request.method === 'link') return this.acceptLink(rpc, request)
    if (request.method === 'pipeConsume') return this.pipeConsume(rpc, request)
    if (request.method === 'roster') return this.roster(rpc, request)
    const room = this.rooms.get(rpc.room)
    const peer = room?.peers.get(rpc.peer)
    if (room === undefined || peer === undefined) {
      if (request.method === 'leave') return {}
      throw new CallError('You are no longer in this call on its server: joining again…', true)
    }
    switch (request.method) {
      case 'setRtpCapabilities':
        peer.rtpCapabilities = request.rtpCapabilities as unknown as types.RtpCapabilities
        return {}
      case 'createTransport':
        return this.createTransport(room, peer, request.direction)
      case 'connectTransport': {
        const transport = this.transport(peer, request.transportId)
        if (transport.type !== 'webrtc') throw new CallError('That is not a WebRTC transport.')
        await transport.connect({dtlsParameters: request.dtlsParameters as unknown as types.DtlsParameters})
        this.deadline(room, peer, transport, CONNECT_DEADLINE_MS, 'never connected')
        return {}
      }
      case 'restartIce': {
        const transport = this.transport(peer, request.transportId)
        if (transport.type !== 'webrtc') throw new CallError('That is not a WebRTC transport.')
        return {iceParameters: await transport.restartIce()}
      }
      case 'produce':
        return this.produce(room, peer, request)
      case 'closeProducer': {
        const producer = this.producer(peer, request.producerId)
        producer.close()
        peer.producers.delete(producer.id)
        this.emit(room, {type: 'producerClosed', peer: peer.id, producerId: producer.id}, {except: peer.id})
        return {}
      }
      case 'pauseProducer':
      case 'resumeProducer': {
        const producer = this.producer(peer, request.producerId)
        if (request.method === 'pauseProducer') await producer.pause()
        else await producer.resume()
        this.emit(room, {type: 'producerPaused', peer: peer.id, producerId: producer.id, paused: producer.paused}, {except: peer.id})
        return {}
      }
      case 'consume':
        return this.consume(room, peer, request.transportId, request.producerId, request.mid)
      case 'resumeConsumer':
        await this.consumer(peer, request.consumerId).resume()
        return {}
      case 'setPreferredLayer': {
        const consumer = this.consumer(peer, request.consumerId)
        if (consumer.type === 'simulcast' || consumer.type === 'svc') await consumer.setPreferredLayers({spatialLayer: request.spatialLayer})
        return {}
      }
      case 'leave':
        this.removePeer(room, peer, 'left')
        return {}
      case 'plainTransport': {
        if (!peer.internal) throw new CallError('Only components send plain RTP.')
        const {ip, announcedAddress} = this.options.plainListen
        const transport = await peer.part.router.createPlainTransport({
          listenInfo: {protocol: 'udp', ip, ...(announcedAddress === undefined ? {} : {announcedAddress})},
          rtcpMux: true,
          // Producing: RTP is taken from wherever it first comes from.
          comedia: request.direction === 'send',
          appData: {peer: peer.id, direction: request.direction},
        })
        peer.transports.set(transport.id, transport)
        return {id: transport.id, ip: transport.tuple.localAddress, port: transport.tuple.localPort}
      }
      case 'plainConnect': {
        const transport = this.transport(peer, request.transportId)
        if (transport.type !== 'plain') throw new CallError('That is not a plain RTP transport.')
        await transport.connect({ip: request.ip, port: request.port})
        return {}
      }
      case 'requestKeyFrame': {
        if (!peer.internal) throw new CallError('Only components ask for keyframes.')
        const consumer = this.consumer(peer, request.consumerId)
        if (consumer.kind === 'video') await consumer.requestKeyFrame()
        return {}
      }
      case 'producerStats': {
        if (!peer.internal) throw new CallError('Only components read what a producer received.')
        const producer = [...room.peers.values()].map((other) => other.producers.get(request.producerId)).find((found) => found !== undefined)
        if (producer === undefined) throw new CallError('That camera or microphone is no longer in the call.')
        const stats = await producer.getStats()
        return {packets: stats.reduce((sum, entry) => sum + (entry.packetCount ?? 0), 0)}
      }
    }
  }

  private async join(rpc: SfuRpc, request: Extract<CallRequest, {method: 'join'}>): Promise<CallResults['join']> {
    // The same peer again: what it had goes first (the room may close with it, and open again below).
    const before = this.rooms.get(rpc.room)
    const again = before?.peers.get(rpc.peer)
    if (before !== undefined && again !== undefined) this.removePeer(before, again, 'joined again')
    const room = await this.openRoom(rpc.room)
    room.pending += 1
    try {
      return await this.enter(room, rpc, request)
    } finally {
      room.pending -= 1
      // A join that failed leaves nothing open for nobody.
      if (this.unused(room)) this.closeRoom(room)
    }
  }

  private async enter(room: Room, rpc: SfuRpc, request: Extract<CallRequest, {method: 'join'}>): Promise<CallResults['join']> {
    const stillOpen = (): void => {
      if (this.rooms.get(room.id) !== room) throw new CallError('The call moved meanwhile: joining again…', true)
    }
    stillOpen()
    // The same person in a second tab is a second participant; a rejoin of one tab replaces its own.
    const full = (): boolean => rpc.internal !== true && [...room.peers.values()].filter((p) => !p.internal).length >= CALL_MAX_PARTICIPANTS
    if (full()) throw new CallError(`This call is full: it has ${CALL_MAX_PARTICIPANTS} people, the most a call takes.`)
    // Components' peers never move a room's hub; a person's join says where it is now.
    if (rpc.internal !== true) await this.ensureHub(room, rpc.hub)
    stillOpen()
    if (full()) throw new CallError(`This call is full: it has ${CALL_MAX_PARTICIPANTS} people, the most a call takes.`)
    const capabilities = request.rtpCapabilities as unknown as types.RtpCapabilities | undefined
    const part = rpc.internal === true && request.matchPayloadTypes === true && capabilities !== undefined ? await this.flavouredPart(room, capabilities) : await this.partFor(room)
    // Placed on a part still being filled (another peer's join made it): its producers first.
    await part.ready
    stillOpen()
    const peer: Peer = {
      id: rpc.peer,
      part,
      userId: rpc.user.id,
      name: rpc.user.name,
      transports: new Map(),
      producers: new Map(),
      consumers: new Map(),
      timers: new Map(),
      internal: rpc.internal === true,
      joinedAt: Date.now(),
      ...(request.rtpCapabilities === undefined ? {} : {rtpCapabilities: request.rtpCapabilities as unknown as types.RtpCapabilities}),
    }
    room.peers.set(peer.id, peer)
    part.peers += 1
    part.worker.peers += 1
    // A participant who only listens may never connect a transport: they stay until they leave or their socket goes.
    // A component that only receives (a studio's compositor) is nobody the people see; one that sends is announced when it does.
    if (!peer.internal) this.emit(room, {type: 'peerJoined', peer: peer.id, name: peer.name}, {except: peer.id})
    this.options.log.info({room: room.id, peer: peer.id, user: peer.userId, peers: room.peers.size, worker: part.worker.worker.pid}, 'call: joined')
    const peers: CallPeerView[] = [...room.peers.values()]
      .filter((other) => other !== peer && !(other.internal && other.producers.size === 0))
      .map((other) => ({peer: other.id, name: other.name, producers: [...other.producers.values()].map(producerView)}))
    return {rtpCapabilities: part.router.rtpCapabilities, peers, sfu: ''}
  }

  private openRoom(id: string): Promise<Room> {
    const existing = this.rooms.get(id)
    if (existing !== undefined) return Promise.resolve(existing)
    let opening = this.opening.get(id)
    if (opening === undefined) {
      opening = this.createRoom(id).finally(() => this.opening.delete(id))
      this.opening.set(id, opening)
    }
    return opening
  }

  private async createRoom(id: string): Promise<Room> {
    const room: Room = {id, parts: [], peers: new Map(), links: new Map(), idleSweeps: 0, pending: 0}
    // The worker with the fewest participants.
    const worker = this.options.workers().sort((a, b) => a.peers - b.peers)[0]
    if (worker === undefined) throw new CallError('This call server has no media worker running: joining again elsewhere…', true)
    await this.addPart(room, worker)
    this.rooms.set(id, room)
    this.options.log.info({room: id, worker: worker.worker.pid}, 'call: room opened')
    return room
  }

  /** Where the next participant goes: the room's part with room on its worker, else a new part on the least busy other worker. */
  private async partFor(room: Room): Promise<RoomPart> {
    const budget = this.options.consumersPerWorker
    const open = room.parts.filter((part) => part.flavour === undefined && part.worker.consumers < budget && !part.router.closed).sort((a, b) => a.worker.consumers - b.worker.consumers)[0]
    if (open !== undefined) return open
    const used = new Set(room.parts.map((part) => part.worker))
    const other = this.options.workers().filter((worker) => !used.has(worker)).sort((a, b) => a.consumers - b.consumers)[0]
    // Every worker is in the room already, or at its budget: the least busy part takes them.
    if (other === undefined || other.consumers >= budget) return room.parts.toSorted((a, b) => a.worker.consumers - b.worker.consumers)[0]!
    const part = await this.addPart(room, other)
    this.options.log.info({room: room.id, worker: other.worker.pid, parts: room.parts.length}, 'call: room continues on another worker')
    return part
  }

  /**
   * Where a receiver goes that must get the room's media with its own payload types (mediasoup
   * sends a router's numbers, and a WHEP player's offer has its own; mediasoup cannot renumber per
   * consumer): a part whose router numbers the room's codecs as this receiver does, shared by every
   * receiver that numbers them alike (one browser version), on a worker with room.
   */
  private async flavouredPart(room: Room, capabilities: types.RtpCapabilities): Promise<RoomPart> {
    const codecs: types.RouterRtpCodecCapability[] = []
    for (const producer of [...room.peers.values()].flatMap((peer) => [...peer.producers.values()])) {
      const codec = producer.rtpParameters.codecs[0]
      if (codec === undefined || codecs.some((c) => c.mimeType.toLowerCase() === codec.mimeType.toLowerCase())) continue
      const mode = (p: Record<string, unknown> | undefined): number => Number(p?.['packetization-mode'] ?? 0)
      const match = (capabilities.codecs ?? []).find(
        (c) =>
          c.mimeType.toLowerCase() === codec.mimeType.toLowerCase() &&
          c.clockRate === codec.clockRate &&
          (c.kind !== 'audio' || (c.channels ?? 1) === (codec.channels ?? 1)) &&
          (codec.mimeType.toLowerCase() !== 'video/h264' || (mode(c.parameters) === mode(codec.parameters) && isSameProfile(c.parameters, codec.parameters))),
      )
      if (match?.preferredPayloadType === undefined) continue
      codecs.push({
        kind: producer.kind,
        mimeType: codec.mimeType as types.RouterRtpCodecCapability['mimeType'],
        clockRate: codec.clockRate,
        ...(codec.channels === undefined ? {} : {channels: codec.channels}),
        parameters: codec.parameters ?? {},
        preferredPayloadType: match.preferredPayloadType,
      })
    }
    // Nothing sent yet, or nothing this receiver decodes: the room's own part (consume says why).
    if (codecs.length === 0) return this.partFor(room)
    // Audio first: mediasoup numbers a video codec's retransmissions from the free numbers as it
    // reads the list, and must not take one the audio claims after it.
    codecs.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'audio' ? -1 : 1))
    const flavour = codecs.map((c) => `${c.mimeType}=${c.preferredPayloadType}`).sort().join(',')
    const budget = this.options.consumersPerWorker
    const parts = room.parts.filter((part) => part.flavour === flavour && !part.router.closed)
    const open = parts.filter((part) => part.worker.consumers < budget).sort((a, b) => a.worker.consumers - b.worker.consumers)[0]
    if (open !== undefined) return open
    if (parts.length === 0 && new Set(room.parts.map((part) => part.flavour).filter((f) => f !== undefined)).size >= MAX_FLAVOURS) {
      throw new CallError('This server plays the stream to too many kinds of player at once: try again later.')
    }
    const used = new Set(parts.map((part) => part.worker))
    const worker = this.options.workers().filter((w) => !used.has(w)).sort((a, b) => a.consumers - b.consumers)[0]
    if (worker === undefined || worker.consumers >= budget) {
      const least = parts.toSorted((a, b) => a.worker.consumers - b.worker.consumers)[0]
      if (least !== undefined) return least
    }
    const part = await this.addPart(room, worker ?? this.options.workers().toSorted((a, b) => a.consumers - b.consumers)[0]!, {flavour, mediaCodecs: codecs})
    this.options.log.info({room: room.id, flavour, worker: part.worker.worker.pid}, 'call: a part for receivers that number codecs their own way')
    return part
  }

  /** A router for the room on `worker`, with every producer the room has piped into it. */
  private async addPart(room: Room, worker: CallWorker, flavoured?: {flavour: string; mediaCodecs: types.RouterRtpCodecCapability[]}): Promise<RoomPart> {
    const router = await worker.worker.createRouter({mediaCodecs: flavoured?.mediaCodecs ?? worker.mediaCodecs})
    const speaker = await router.createActiveSpeakerObserver({interval: 300})
    const part: RoomPart = {router, worker, speaker, peers: 0, piped: new Map(), ready: Promise.resolve(), ...(flavoured === undefined ? {} : {flavour: flavoured.flavour})}
    speaker.on('dominantspeaker', ({producer}) => {
      if (room.parts[0] === part) this.emit(room, {type: 'activeSpeaker', peer: (producer.appData as {peer: string}).peer})
    })
    room.parts.push(part)
    part.ready = (async () => {
      for (const peer of room.peers.values()) {
        for (const producer of peer.producers.values()) await this.pipe(room, producer, peer.part, part)
      }
    })()
    try {
      await part.ready
    } catch (error) {
      // A part that could not be filled is no part: nobody is placed on it.
      room.parts = room.parts.filter((p) => p !== part)
      router.close()
      throw error
    }
    return part
  }

  /** Makes `producer` (on `from`) consumable on `to` (its id there in `to.piped`); audio joins `to`'s speaker detection. */
  private async pipe(room: Room, producer: types.Producer, from: RoomPart, to: RoomPart): Promise<void> {
    // Once per producer and part: a producer made while the part is being filled would come twice.
    if (from === to || producer.closed || to.router.closed || to.piped.has(producer.id)) return
    // A part numbered for some receivers has only the codecs they take.
    const codec = producer.rtpParameters.codecs[0]?.mimeType.toLowerCase()
    if (!to.router.rtpCapabilities.codecs?.some((c) => c.mimeType.toLowerCase() === codec)) return
    to.piped.set(producer.id, producer.id)
    producer.observer.once('close', () => to.piped.delete(producer.id))
    const {pipeProducer} = await from.router.pipeToRouter({producerId: producer.id, router: to.router, keepId: from.worker !== to.worker})
    const here = pipeProducer?.id ?? producer.id
    if (to.piped.has(producer.id)) to.piped.set(producer.id, here)
    if (producer.kind === 'audio') await to.speaker.addProducer({producerId: here}).catch(() => undefined)
  }

  private async createTransport(room: Room, peer: Peer, direction: 'send' | 'recv'): Promise<CallResults['createTransport']> {
    if (peer.transports.size >= 4) throw new CallError('Too many connections for one participant: leave and join again.')
    // UDP first; TCP for networks that let no UDP through.
    const transport = await peer.part.router.createWebRtcTransport({
      webRtcServer: peer.part.worker.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_000_000,
      appData: {peer: peer.id, direction},
    })
    peer.transports.set(transport.id, transport)
    transport.on('icestatechange', (state) => {
      if (state === 'connected' || state === 'completed') {
        clearTimeout(peer.timers.get(transport.id))
        peer.timers.delete(transport.id)
      } else if (state === 'disconnected') {
        this.deadline(room, peer, transport, DISCONNECTED_GRACE_MS, 'network lost')
      }
    })
    transport.on('dtlsstatechange', (state) => {
      if ((state === 'failed' || state === 'closed') && room.peers.get(peer.id) === peer) this.removePeer(room, peer, `dtls ${state}`)
    })
    return {id: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters}
  }

  /** Drops the participant unless `transport`'s ICE is connected within `ms`. */
  private deadline(room: Room, peer: Peer, transport: types.WebRtcTransport, ms: number, why: string): void {
    clearTimeout(peer.timers.get(transport.id))
    peer.timers.set(
      transport.id,
      setTimeout(() => {
        peer.timers.delete(transport.id)
        const connected = transport.iceState === 'connected' || transport.iceState === 'completed'
        if (!connected && room.peers.get(peer.id) === peer) this.removePeer(room, peer, why)
      }, ms),
    )
  }

  private async produce(room: Room, peer: Peer, request: Extract<CallRequest, {method: 'produce'}>): Promise<CallResults['produce']> {
    const transport = this.transport(peer, request.transportId)
    if ((transport.appData as {direction: string}).direction !== 'send') throw new CallError('That connection receives; send on the other.')
    // One producer per source: a second camera replaces the first.
    for (const old of [...peer.producers.values()].filter((p) => sourceOf(p) === request.source)) {
      old.close()
      peer.producers.delete(old.id)
      this.emit(room, {type: 'producerClosed', peer: peer.id, producerId: old.id}, {except: peer.id})
    }
    const producer = await transport.produce({
      kind: request.kind,
      rtpParameters: request.rtpParameters as unknown as types.RtpParameters,
      appData: {peer: peer.id, source: request.source},
    })
    // A component that sends (a WHIP encoder's media) is announced with its first producer.
    if (peer.internal && peer.producers.size === 0) this.emit(room, {type: 'peerJoined', peer: peer.id, name: peer.name}, {except: peer.id})
    await this.adopt(room, peer, producer, {except: peer.id})
    return {id: producer.id}
  }

  /**
   * A new producer of `peer` (made on its part: its own, or a link's) joins the room: audio to the
   * part's speaker detection, piped to every part before anyone is told of it (whoever consumes it
   * finds it there), then told.
   */
  private async adopt(room: Room, peer: Peer, producer: types.Producer, target: {except?: string; relayed?: string}): Promise<void> {
    peer.producers.set(producer.id, producer)
    producer.on('transportclose', () => peer.producers.delete(producer.id))
    if (producer.kind === 'audio') await peer.part.speaker.addProducer({producerId: producer.id}).catch(() => undefined)
    for (const part of room.parts) await this.pipe(room, producer, peer.part, part)
    this.emit(room, {type: 'newProducer', peer: peer.id, producer: producerView(producer)}, target)
  }

  private async consume(room: Room, peer: Peer, transportId: string, producerId: string, mid?: string): Promise<CallResults['consume']> {
    const transport = this.transport(peer, transportId)
    if ((transport.appData as {direction: string}).direction !== 'recv') throw new CallError('That connection sends; receive on the other.')
    const owner = [...room.peers.values()].find((other) => other.producers.has(producerId))
    const producer = owner?.producers.get(producerId)
    if (owner === undefined || producer === undefined || owner === peer) throw new CallError('That camera or microphone is no longer in the call.')
    if (!peer.internal) {
      if ([...peer.consumers.values()].some((consumer) => consumer.producerId === producerId)) throw new CallError('You receive that already.')
      if (peer.consumers.size >= CONSUMERS_PER_PEER) throw new CallError('You receive as much as a call can send.')
    }
    // The producer as this peer's part knows it (piped in from the owner's part, maybe under another id).
    const local = owner.part === peer.part ? producerId : (peer.part.piped.get(producerId) ?? producerId)
    if (peer.rtpCapabilities === undefined || !peer.part.router.canConsume({producerId: local, rtpCapabilities: peer.rtpCapabilities})) {
      throw new CallError('Your browser cannot play what this participant sends.')
    }
    // Paused until the browser has its track ready (resumeConsumer): no early keyframe is lost.
    const consumer = await transport.consume({producerId: local, rtpCapabilities: peer.rtpCapabilities, paused: true, ...(mid === undefined ? {} : {mid}), appData: {peer: owner.id}})
    peer.consumers.set(consumer.id, consumer)
    const worker = peer.part.worker
    worker.consumers += 1
    consumer.observer.once('close', () => {
      worker.consumers = Math.max(0, worker.consumers - 1)
    })
    const gone = (): void => {
      if (!peer.consumers.delete(consumer.id)) return
      this.emit(room, {type: 'consumerClosed', consumerId: consumer.id}, {to: peer.id})
    }
    consumer.on('producerclose', gone)
    consumer.on('transportclose', () => peer.consumers.delete(consumer.id))
    return {id: consumer.id, producerId, kind: consumer.kind, rtpParameters: consumer.rtpParameters, peer: owner.id, source: sourceOf(producer)}
  }

  private removePeer(room: Room, peer: Peer, why: string): void {
    if (room.peers.get(peer.id) !== peer) return
    const sent = peer.producers.size > 0
    for (const timer of peer.timers.values()) clearTimeout(timer)
    room.peers.delete(peer.id)
    peer.part.peers -= 1
    if (peer.remote === undefined) peer.part.worker.peers = Math.max(0, peer.part.worker.peers - 1)
    for (const transport of peer.transports.values()) transport.close()
    // Someone elsewhere: their pipe producers (the link stays for the others).
    if (peer.remote !== undefined) for (const producer of peer.producers.values()) producer.close()
    this.emit(room, {type: 'peerLeft', peer: peer.id}, {except: peer.id, relayed: peer.remote})
    this.options.log.info({room: room.id, peer: peer.id, why, peers: room.peers.size}, 'call: left')
    if (this.unused(room)) this.closeRoom(room)
    else if (peer.internal && sent && [...room.peers.values()].every((other) => other.internal && other.producers.size === 0)) {
      // The component that sent everything left (a real-time stream moved or ended, a WHIP encoder
      // gone): its receivers have nothing to wait for. Their connections close with the room.
      this.closeRoom(room)
    }
    else if (peer.part.peers === 0 && room.parts.length > 1) {
      // An empty part gives its worker back (its pipes close with it).
      room.parts = room.parts.filter((part) => part !== peer.part)
      peer.part.router.close()
    }
  }

  /**
   * Whether the room has nobody left to carry: a hub, nobody and no link; a room continued here
   * from its hub, nobody of its own here (the hub keeps it for those elsewhere). Never while a
   * join or a link is under way.
   */
  private unused(room: Room): boolean {
    if (room.pending > 0) return false
    if (room.hub !== undefined) return ![...room.peers.values()].some((peer) => peer.remote === undefined)
    return room.peers.size === 0 && room.links.size === 0
  }

  private closeRoom(room: Room): void {
    if (this.rooms.get(room.id) !== room) return
    for (const peer of room.peers.values()) {
      for (const timer of peer.timers.values()) clearTimeout(timer)
      if (peer.remote === undefined) peer.part.worker.peers = Math.max(0, peer.part.worker.peers - 1)
    }
    room.peers.clear()
    room.links.clear()
    this.rooms.delete(room.id)
    for (const part of room.parts) part.router.close()
    this.options.log.info({room: room.id}, 'call: room closed')
  }

  /** Tells the room's browsers on this process; `relayed`: it is about someone on that other process. */
  private emit(room: Room, event: CallEvent, target: {to?: string; except?: string; relayed?: string} = {}): void {
    const {relayed, ...to} = target
    this.options.publish({room: room.id, sfu: this.options.self.id, ...(relayed === undefined ? {} : {relayed}), ...to, event})
  }

  /**
   * What another SFU process of a room said there (CALL_EVENTS_CHANNEL): someone joined, sends,
   * pauses, stops or left on it. Applied, in order, to the remote peers here, and told to this
   * process's browsers. The hub hears only what each linked process says of its own people (it
   * passes that on, `relayed`); a spoke hears everything the hub says.
   */
  onEvent(message: CallEventMessage): void {
    const room = this.rooms.get(message.room)
    if (room === undefined) return
    const {event} = message
    if (event.type === 'roomClosed') {
      if (event.sfu === this.options.self.id) {
        // Said of this process by another (a web that could not reach it, a hub that let its link go):
        // its people here were told to join again, and the room goes.
        if (message.sfu !== this.options.self.id) this.closeRoom(room)
        return
      }
      // That process stopped, or lost the room: what came from it goes (a spoke whose hub went closes, and its people join again).
      const link = room.links.get(event.sfu)
      if (link !== undefined) this.dropLink(room, link, 'its SFU closed the room')
      return
    }
    const from = message.sfu
    const link = from === undefined || from === this.options.self.id ? undefined : room.links.get(from)
    if (link === undefined && room.early !== undefined && room.early.sfu === from) room.early.messages.push(message)
    // The hub hears only what a spoke says of its own people; a spoke, all the hub says but what it passes on of the spoke's own.
    const repeated = message.relayed !== undefined && (room.hub === undefined || message.relayed === this.options.self.id)
    if (link === undefined || message.to !== undefined || repeated) return
    this.enqueue(room, link, () => this.apply(room, link, event), event.type)
  }

  /** Runs `work` after what is queued on the link, while the link is still the room's. */
  private enqueue(room: Room, link: Link, work: () => Promise<void>, what: string): void {
    link.queue = link.queue
      .then(() => (this.rooms.get(room.id) === room && room.links.get(link.sfu.id) === link ? work() : undefined))
      .catch((error: unknown) => this.options.log.warn({room: room.id, sfu: link.sfu.id, what, err: (error as Error).message}, 'call: news from a linked SFU not applied'))
  }

  /**
   * Compares the remote peers from `link` with the other side's roster, and mends what differs
   * twice in a row (once may be news still on the way): news lost on Redis (a reconnect) leaves
   * neither a ghost nor a missing participant for long.
   */
  private async reconcile(room: Room, link: Link): Promise<void> {
    let ack: CallAck
    try {
      ack = await this.options.ask(link.sfu, {room: room.id, peer: linkPeer(this.options.self.id), user: {id: this.options.self.id, name: 'sfu'}, internal: true, request: {method: 'roster', from: this.options.self.id}})
    } catch (error) {
      if (!(error instanceof SfuUnreachable) || this.rooms.get(room.id) !== room || room.links.get(link.sfu.id) !== link) throw error
      // That process is gone (its record may outlive it): its people are told to join again now, as a
      // web tells them when it cannot reach it, rather than when their browsers notice.
      this.options.log.warn({room: room.id, sfu: link.sfu.id, err: error.message}, 'call: a linked SFU does not answer; its people are told to join again')
      this.options.publish({room: room.id, event: {type: 'roomClosed', reason: 'The call server stopped: joining again…', sfu: link.sfu.id}})
      this.dropLink(room, link, 'its SFU does not answer')
      return
    }
    if (this.rooms.get(room.id) !== room || room.links.get(link.sfu.id) !== link) return
    const seen = new Set<string>()
    const twice = (key: string): boolean => {
      seen.add(key)
      return link.amiss.has(key)
    }
    if (!ack.ok) {
      // The other side has no such link (its room closed, or it let the link go): neither will it send.
      if (twice('link')) this.dropLink(room, link, 'not linked there')
      link.amiss = seen
      return
    }
    const theirs = new Map((ack.result as CallResults['roster']).peers.map((view) => [view.peer, view]))
    let mended = 0
    for (const peer of [...room.peers.values()]) {
      if (peer.remote === link.sfu.id && !theirs.has(peer.id) && twice(`peer:${peer.id}`)) {
        this.removePeer(room, peer, 'gone there')
        mended += 1
      }
    }
    for (const view of theirs.values()) {
      const known = room.peers.get(view.peer)
      if (known !== undefined && known.remote !== link.sfu.id) continue
      if (known === undefined && !twice(`peer:${view.peer}`)) continue
      const peer = known ?? this.addRemotePeer(room, link, {peer: view.peer, name: view.name, producers: []})
      for (const producer of view.producers) {
        if (peer.producers.has(producer.id) || !twice(`producer:${producer.id}`)) continue
        const piped = await this.options.ask(link.sfu, {room: room.id, peer: linkPeer(this.options.self.id), user: {id: this.options.self.id, name: 'sfu'}, internal: true, request: {method: 'pipeConsume', from: this.options.self.id, producerId: producer.id}})
        if (piped.ok && room.peers.get(peer.id) === peer) {
          await this.addRemoteProducer(room, link, peer, piped.result as PipedProducerView)
          mended += 1
        }
      }
      for (const producer of [...peer.producers.values()]) {
        if (view.producers.some((p) => p.id === producer.id) || !twice(`producer:${producer.id}`)) continue
        producer.close()
        peer.producers.delete(producer.id)
        this.emit(room, {type: 'producerClosed', peer: peer.id, producerId: producer.id}, {relayed: peer.remote})
        mended += 1
      }
      if (known === undefined) mended += 1
    }
    if (mended > 0) this.options.log.warn({room: room.id, sfu: link.sfu.id, mended}, 'call: news from a linked SFU was lost; the room is mended')
    link.amiss = seen
  }

  /** On either side of a link: who the other side should know of from here (the hub: all but the other's own; a spoke: its own). */
  private roster(rpc: SfuRpc, request: Extract<SfuRpc['request'], {method: 'roster'}>): CallResults['roster'] {
    if (rpc.internal !== true) throw new CallError('Only SFU processes link rooms.')
    const room = this.rooms.get(rpc.room)
    if (room === undefined || !room.links.has(request.from)) throw new CallError('This room is not linked to that server.')
    const peers = [...room.peers.values()].filter((peer) => !peer.internal && peer.remote !== request.from && (room.hub === undefined || peer.remote === undefined))
    return {peers: peers.map((peer) => ({peer: peer.id, name: peer.name, producers: [...peer.producers.values()].map(producerView)}))}
  }

  private async apply(room: Room, link: Link, event: CallEvent): Promise<void> {
    const theirs = (peer: string): Peer | undefined => {
      const found = room.peers.get(peer)
      return found?.remote === link.sfu.id ? found : undefined
    }
    switch (event.type) {
      case 'peerJoined':
        if (!room.peers.has(event.peer)) this.addRemotePeer(room, link, {peer: event.peer, name: event.name, producers: []})
        return
      case 'peerLeft': {
        const peer = theirs(event.peer)
        if (peer !== undefined) this.removePeer(room, peer, 'left on its SFU')
        return
      }
      case 'newProducer': {
        const peer = theirs(event.peer)
        if (peer === undefined || peer.producers.has(event.producer.id)) return
        const ack = await this.options.ask(link.sfu, {
          room: room.id,
          peer: linkPeer(this.options.self.id),
          user: {id: this.options.self.id, name: 'sfu'},
          internal: true,
          request: {method: 'pipeConsume', from: this.options.self.id, producerId: event.producer.id},
        })
        if (!ack.ok) throw new Error(ack.error)
        if (theirs(event.peer) === peer && room.links.get(link.sfu.id) === link) await this.addRemoteProducer(room, link, peer, ack.result as PipedProducerView)
        return
      }
      case 'producerClosed':
      case 'producerPaused': {
        const peer = theirs(event.peer)
        const producer = peer?.producers.get(event.producerId)
        if (peer === undefined || producer === undefined) return
        if (event.type === 'producerClosed') {
          producer.close()
          peer.producers.delete(producer.id)
          this.emit(room, event, {relayed: peer.remote})
        } else {
          if (event.paused) await producer.pause()
          else await producer.resume()
          this.emit(room, event, {relayed: peer.remote})
        }
        return
      }
      default:
        return
    }
  }

  /** The room's hub is `hub` (absent: this process), as the web's placement says: linked to it, or unlinked from the old one. */
  private async ensureHub(room: Room, hub: SfuAddress | undefined): Promise<void> {
    while (room.linking !== undefined) await room.linking.catch(() => undefined)
    if (hub?.id === room.hub?.id) return
    room.linking = (async () => {
      const old = room.hub === undefined ? undefined : room.links.get(room.hub.id)
      delete room.hub
      // This process is the room's hub now (the old one went): those who were there join again and come back.
      if (old !== undefined) this.dropLink(room, old, 'the room moved')
      if (hub !== undefined && hub.id !== this.options.self.id) await this.linkToHub(room, hub)
    })().finally(() => {
      room.linking = undefined
    })
    await room.linking
  }

  /** Links this process's part of the room to its hub: everyone there, and what they send, arrives here. */
  private async linkToHub(room: Room, hub: SfuAddress): Promise<void> {
    const part = room.parts[0]!
    const transport = await this.pipeTransport(part)
    room.early = {sfu: hub.id, messages: []}
    let link: Link | undefined
    try {
      const ack = await this.options
        .ask(hub, {
          room: room.id,
          peer: linkPeer(this.options.self.id),
          user: {id: this.options.self.id, name: 'sfu'},
          internal: true,
          request: {method: 'link', from: this.options.self, ip: await ipOf(transport.tuple.localAddress), port: transport.tuple.localPort, srtp: transport.srtpParameters as unknown as Record<string, unknown>},
        })
        .catch((error: unknown) => ({ok: false as const, error: (error as Error).message}))
      if (!ack.ok) throw new CallError(`This call continues on another server, which this one cannot reach (${ack.error}): joining again…`, true)
      const {ip, port, srtp, peers} = ack.result as CallResults['link']
      await transport.connect({ip: await ipOf(ip), port, srtpParameters: srtp as types.SrtpParameters})
      if (this.rooms.get(room.id) !== room) throw new CallError('The call moved meanwhile: joining again…', true)
      room.hub = hub
      const made = (link = this.addLink(room, hub, transport, part))
      // Everyone there first; what the hub says meanwhile comes after, in its order.
      made.queue = (async () => {
        for (const view of peers) {
          const peer = this.addRemotePeer(room, made, view)
          for (const producer of view.producers) {
            await this.addRemoteProducer(room, made, peer, producer).catch((error: unknown) => this.options.log.warn({room: room.id, producer: producer.id, err: (error as Error).message}, 'call: a producer from the hub not taken'))
          }
        }
      })()
      for (const message of room.early.messages) this.onEvent(message)
      await made.queue
      this.options.log.info({room: room.id, hub: hub.id, peers: peers.length}, 'call: room continues here from its hub')
    } catch (error) {
      if (link !== undefined) this.dropLink(room, link, 'linking failed')
      else transport.close()
      throw error instanceof CallError ? error : new CallError(`This call continues on another server, which this one could not link to (${(error as Error).message}): joining again…`, true)
    } finally {
      delete room.early
    }
  }

  /** On the hub: another process of the room links in; everyone here, and what they send, goes to it. */
  private async acceptLink(rpc: SfuRpc, request: Extract<SfuRpc['request'], {method: 'link'}>): Promise<CallResults['link']> {
    if (rpc.internal !== true) throw new CallError('Only SFU processes link rooms.')
    // The token's holders are the site's components; the address this process will ask is still the registry's.
    const from = this.options.locate === undefined ? request.from : await this.options.locate(request.from.id)
    if (from === undefined) throw new CallError(`${request.from.id} is no SFU in the registry.`)
    const room = await this.openRoom(rpc.room)
    room.pending += 1
    try {
      const part = room.parts[0]!
      const transport = await this.pipeTransport(part)
      try {
        await transport.connect({ip: await ipOf(request.ip), port: request.port, srtpParameters: request.srtp as unknown as types.SrtpParameters})
      } catch (error) {
        transport.close()
        throw error
      }
      if (this.rooms.get(room.id) !== room) {
        transport.close()
        throw new CallError('The call moved meanwhile.', true)
      }
      // That process opened the room again (or asked twice): what it had here before is gone there.
      const old = room.links.get(request.from.id)
      if (old !== undefined) this.dropLink(room, old, 'linked again')
      const link = this.addLink(room, from, transport, part)
      const peers: PipedPeerView[] = []
      for (const peer of [...room.peers.values()]) {
        if (peer.internal || peer.remote === request.from.id) continue
        const producers: PipedProducerView[] = []
        for (const producer of [...peer.producers.values()]) {
          // One that closes meanwhile is left out (its close is told anyway).
          const view = await this.sendOver(link, peer, producer).catch(() => undefined)
          if (view !== undefined) producers.push(view)
        }
        peers.push({peer: peer.id, name: peer.name, producers})
      }
      this.options.log.info({room: room.id, sfu: request.from.id, peers: peers.length}, 'call: room continues on another SFU')
      return {ip: await ipOf(transport.tuple.localAddress), port: transport.tuple.localPort, srtp: transport.srtpParameters, peers}
    } finally {
      room.pending -= 1
      if (this.unused(room)) this.closeRoom(room)
    }
  }

  /** A linked process asks for a producer of this one (or of another the hub links). */
  private async pipeConsume(rpc: SfuRpc, request: Extract<SfuRpc['request'], {method: 'pipeConsume'}>): Promise<CallResults['pipeConsume']> {
    if (rpc.internal !== true) throw new CallError('Only SFU processes link rooms.')
    const room = this.rooms.get(rpc.room)
    const link = room?.links.get(request.from)
    if (room === undefined || link === undefined) throw new CallError('This room is not linked to that server.')
    const owner = [...room.peers.values()].find((peer) => peer.producers.has(request.producerId))
    const producer = owner?.producers.get(request.producerId)
    if (owner === undefined || producer === undefined || owner.remote === request.from) throw new CallError('That camera or microphone is no longer in the call.')
    return this.sendOver(link, owner, producer)
  }

  /** `producer` sent over `link` (once): what the other side produces it with. */
  private async sendOver(link: Link, owner: Peer, producer: types.Producer): Promise<PipedProducerView> {
    let sending = link.sent.get(producer.id)
    if (sending === undefined) {
      const local = owner.part === link.part ? producer.id : (link.part.piped.get(producer.id) ?? producer.id)
      const made = link.transport.consume({producerId: local})
      sending = made
      link.sent.set(producer.id, made)
      made.then(
        (consumer) => {
          // What goes to another process is this worker's work too (its free slots say so).
          const worker = link.part.worker
          worker.consumers += 1
          consumer.observer.once('close', () => {
            worker.consumers = Math.max(0, worker.consumers - 1)
            if (link.sent.get(producer.id) === made) link.sent.delete(producer.id)
          })
        },
        () => {
          if (link.sent.get(producer.id) === made) link.sent.delete(producer.id)
        },
      )
    }
    const consumer = await sending
    return {...producerView(producer), rtpParameters: consumer.rtpParameters}
  }

  private async pipeTransport(part: RoomPart): Promise<types.PipeTransport> {
    const {ip, announcedAddress} = this.options.plainListen
    // Between boxes: lost packets are sent again (RTX, both ends alike), and the media is encrypted whatever the overlay does.
    return part.router.createPipeTransport({listenInfo: {protocol: 'udp', ip, ...(announcedAddress === undefined ? {} : {announcedAddress})}, enableRtx: true, enableSrtp: true})
  }

  private addLink(room: Room, sfu: SfuAddress, transport: types.PipeTransport, part: RoomPart): Link {
    const link: Link = {sfu, transport, part, sent: new Map(), since: Date.now(), emptySweeps: 0, amiss: new Set(), queue: Promise.resolve()}
    room.links.set(sfu.id, link)
    // The link keeps its part open.
    part.peers += 1
    return link
  }

  /**
   * The link to another process goes: so do the people there (told to the browsers here). A spoke
   * that loses its hub closes the room, and its people join again wherever the room is now.
   */
  private dropLink(room: Room, link: Link, why: string): void {
    if (room.links.get(link.sfu.id) !== link) return
    this.options.log.info({room: room.id, sfu: link.sfu.id, why}, 'call: link to another SFU dropped')
    if (room.hub?.id === link.sfu.id) {
      this.emit(room, {type: 'roomClosed', reason: 'The call moved to another server: joining again…', sfu: this.options.self.id})
      this.closeRoom(room)
      return
    }
    room.links.delete(link.sfu.id)
    link.part.peers -= 1
    link.transport.close()
    for (const peer of [...room.peers.values()]) if (peer.remote === link.sfu.id) this.removePeer(room, peer, why)
    // The spoke may still think itself linked (news lost on the way): its people join again and meet here.
    if (why === 'nobody there') this.emit(room, {type: 'roomClosed', reason: 'The call moved: joining again…', sfu: link.sfu.id})
    if (this.rooms.get(room.id) === room && this.unused(room)) this.closeRoom(room)
  }

  private addRemotePeer(room: Room, link: Link, view: PipedPeerView): Peer {
    const known = room.peers.get(view.peer)
    if (known !== undefined) return known
    const peer: Peer = {
      id: view.peer,
      part: link.part,
      userId: '',
      name: view.name,
      remote: link.sfu.id,
      transports: new Map(),
      producers: new Map(),
      consumers: new Map(),
      timers: new Map(),
      internal: false,
      joinedAt: Date.now(),
    }
    room.peers.set(peer.id, peer)
    link.part.peers += 1
    this.emit(room, {type: 'peerJoined', peer: peer.id, name: peer.name}, {relayed: peer.remote})
    return peer
  }

  /** A producer of another process, made here from what it sends over the link, and on every part of the room. */
  private async addRemoteProducer(room: Room, link: Link, peer: Peer, view: PipedProducerView): Promise<void> {
    if (peer.producers.has(view.id)) return
    const producer = await link.transport.produce({
      id: view.id,
      kind: view.kind,
      rtpParameters: view.rtpParameters as types.RtpParameters,
      paused: view.paused,
      appData: {peer: peer.id, source: view.source},
    })
    // A remote peer's part is its link's.
    await this.adopt(room, peer, producer, {relayed: peer.remote})
  }

  private transport(peer: Peer, id: string): types.WebRtcTransport | types.PlainTransport {
    const transport = peer.transports.get(id)
    if (transport === undefined || transport.closed) throw new CallError('That connection is closed: joining again…', true)
    return transport
  }

  private producer(peer: Peer, id: string): types.Producer {
    const producer = peer.producers.get(id)
    if (producer === undefined) throw new CallError('That camera or microphone is no longer sending.')
    return producer
  }

  private consumer(peer: Peer, id: string): types.Consumer {
    const consumer = peer.consumers.get(id)
    if (consumer === undefined) throw new CallError('That participant is no longer sending this.')
    return consumer
  }
}

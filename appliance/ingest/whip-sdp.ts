/**
 * The SDP of a WHIP session, both ways, and the one ffmpeg reads. Pure: an encoder's offer is read
 * into what mediasoup takes (the DTLS parameters of its transport, one producer per audio or video
 * section), and the answer is written from the SFU transport's ICE and DTLS parameters, as
 * mediasoup-client does it for a browser. The SFU is ICE-lite: the encoder's candidates are not
 * needed (it finds the SFU's in the answer and checks them itself).
 */
import {isSameProfile} from 'h264-profile-level-id'
import type {types} from 'mediasoup'
import sdpTransform, {type MediaDescription, type SessionDescription} from 'sdp-transform'

/** An offer the ingest cannot take; the message is for the encoder's user (400). */
export class WhipOfferError extends Error {}

export interface OfferedMedia {
  /** Index of the offer's m-section. */
  index: number
  mid: string
  kind: 'audio' | 'video'
  rtpParameters: types.RtpParameters
  /** The SFU sends this section (WHEP: a consumer's parameters); else it receives it (WHIP). */
  send?: {streamId: string; trackId: string}
}

export interface ReadOffer {
  /** The encoder's DTLS side, for the SFU transport's connect. */
  dtlsParameters: types.DtlsParameters
  /** The sections the ingest takes (at most one audio and one video). */
  media: OfferedMedia[]
  offer: SessionDescription
}

type Rtp = MediaDescription['rtp'][number]

const CODEC_NAMES: Record<'audio' | 'video', string> = {audio: 'Opus', video: 'H.264 or VP8'}

/** The section's format parameters for a payload type, as mediasoup writes them (numbers as numbers). */
export function fmtpOf(media: MediaDescription, payload: number): Record<string, string | number> {
  const config = media.fmtp.find((f) => f.payload === payload)?.config
  if (config === undefined) return {}
  const params = sdpTransform.parseParams(config) as Record<string, string | number>
  // An all-digit profile-level-id (640028: High 4.0) parses as a number; it is a hex string.
  if (params['profile-level-id'] !== undefined) params['profile-level-id'] = String(params['profile-level-id'])
  return params
}

/** The router codec this offered payload matches, if any. */
function matchCodec(kind: 'audio' | 'video', rtp: Rtp, params: Record<string, string | number>, router: types.RtpCapabilities): types.RtpCodecCapability | undefined {
  const mimeType = `${kind}/${rtp.codec}`.toLowerCase()
  // Retransmissions and redundancy ride along with a codec; they are none themselves.
  if (/\/(rtx|red|ulpfec|flexfec-03)$/.test(mimeType)) return undefined
  return router.codecs?.find((codec) => {
    if (codec.kind !== kind || codec.mimeType.toLowerCase() !== mimeType || codec.clockRate !== rtp.rate) return false
    if (kind === 'audio' && (codec.channels ?? 1) !== Number(rtp.encoding ?? 1)) return false
    if (mimeType === 'video/h264') {
      const mode = (p: Record<string, unknown> | undefined): number => Number(p?.['packetization-mode'] ?? 0)
      return mode(params) === mode(codec.parameters) && isSameProfile(params, codec.parameters)
    }
    return true
  })
}

/**
 * Reads an encoder's offer. Every audio and video section the encoder sends is taken with the
 * first codec it lists that the SFU forwards; a section of another kind, or one that sends
 * nothing, is declined in the answer. Throws WhipOfferError with what to change.
 */
export function readOffer(sdp: string, router: types.RtpCapabilities): ReadOffer {
  let offer: SessionDescription
  try {
    offer = sdpTransform.parse(sdp)
  } catch {
    throw new WhipOfferError('The body is not an SDP offer')
  }
  if (offer.version === undefined || offer.media.length === 0) throw new WhipOfferError('The body is not an SDP offer: send the encoder\'s offer as application/sdp')
  const media: OfferedMedia[] = []
  let fingerprint: {type: string; hash: string} | undefined
  let setup: string | undefined
  for (const [index, section] of offer.media.entries()) {
    const kind = section.type
    if (kind !== 'audio' && kind !== 'video') continue
    if (section.port === 0 || section.direction === 'recvonly' || section.direction === 'inactive') continue
    if (media.some((m) => m.kind === kind)) continue // one of each: the ladder takes one audio and one video track
    fingerprint ??= section.fingerprint ?? offer.fingerprint
    setup ??= section.setup ?? offer.setup
    const mid = section.mid === undefined ? String(index) : String(section.mid)
    // H.264 where the encoder offers it (the ingest copies it; anything else costs an encode),
    // else the first codec it lists that the SFU takes.
    // One payload type parses as a number.
    const payloads = String(section.payloads ?? '').split(' ').map(Number)
    const candidates: Array<{rtp: Rtp; codec: types.RtpCodecCapability; params: Record<string, string | number>}> = []
    for (const payload of payloads) {
      const rtp = section.rtp.find((r) => r.payload === payload)
      if (rtp === undefined) continue
      const params = fmtpOf(section, payload)
      const codec = matchCodec(kind, rtp, params, router)
      if (codec !== undefined) candidates.push({rtp, codec, params})
    }
    const chosen = candidates.find((c) => c.codec.mimeType.toLowerCase() === 'video/h264') ?? candidates[0]
    if (chosen === undefined) {
      const offered = [...new Set(section.rtp.map((r) => r.codec).filter((c) => !/^(rtx|red|ulpfec|flexfec-03|telephone-event|CN)$/i.test(c)))].join(', ') || 'nothing'
      throw new WhipOfferError(`The ${kind} is offered in ${offered}; this server takes ${CODEC_NAMES[kind]}: set the encoder's ${kind} codec to ${CODEC_NAMES[kind]}`)
    }
    const routerExtensions = (router.headerExtensions ?? []).filter((e) => e.kind === kind)
    const headerExtensions = (section.ext ?? [])
      .filter((ext) => routerExtensions.some((e) => e.uri === ext.uri))
      .map((ext) => ({uri: ext.uri as types.RtpHeaderExtensionUri, id: ext.value}))
    const feedback = (chosen.codec.rtcpFeedback ?? []).map((f) => `${f.type} ${f.parameter ?? ''}`.trim())
    const rtcpFeedback = (section.rtcpFb ?? [])
      .filter((f) => Number(f.payload) === chosen.rtp.payload && feedback.includes(`${f.type} ${f.subtype ?? ''}`.trim()))
      .map((f) => ({type: f.type, parameter: f.subtype ?? ''}))
    media.push({
      index,
      mid,
      kind,
      rtpParameters: {
        mid,
        codecs: [
          {
            mimeType: chosen.codec.mimeType,
            payloadType: chosen.rtp.payload,
            clockRate: chosen.rtp.rate ?? chosen.codec.clockRate,
            ...(kind === 'audio' ? {channels: Number(chosen.rtp.encoding ?? 1)} : {}),
            parameters: chosen.params,
            rtcpFeedback,
          },
        ],
        headerExtensions,
        encodings: encodingsOf(section),
        rtcp: {cname: section.ssrcs?.find((s) => s.attribute === 'cname')?.value ?? `whip-${mid}`, reducedSize: true},
      },
    })
  }
  if (media.length === 0) throw new WhipOfferError('The offer sends no audio or video: add a source to the encoder')
  // One transport on the SFU: the taken sections must share it (BUNDLE), as every WHIP encoder's do.
  if (media.length > 1 && !(offer.groups ?? []).some((g) => g.type === 'BUNDLE' && media.every((m) => String(g.mids).split(' ').includes(m.mid)))) {
    throw new WhipOfferError('The offer does not bundle its audio and video (a=group:BUNDLE): this server takes them over one connection')
  }
  if (fingerprint === undefined) throw new WhipOfferError('The offer has no DTLS fingerprint: WHIP needs an encrypted (DTLS-SRTP) offer')
  // We answer passive (the DTLS server) unless the encoder insists on being it.
  const role: types.DtlsRole = setup === 'passive' ? 'server' : 'client'
  return {dtlsParameters: {role, fingerprints: [{algorithm: fingerprint.type.toLowerCase() as types.FingerprintAlgorithm, value: fingerprint.hash}]}, media, offer}
}

/** The section's streams: its SSRC (the first of an FID group: the others are retransmissions), else its RIDs. */
function encodingsOf(section: MediaDescription): types.RtpEncodingParameters[] {
  const fid = section.ssrcGroups?.find((g) => g.semantics === 'FID')
  const ssrc = fid === undefined ? section.ssrcs?.[0]?.id : Number(fid.ssrcs.split(' ')[0])
  if (ssrc !== undefined) return [{ssrc: Number(ssrc)}]
  // Simulcast: one layer is taken, the first the encoder lists (the answer names only it).
  const rid = sendRid(section)
  if (rid !== undefined) return [{rid}]
  throw new WhipOfferError('The offer names no stream (no a=ssrc or a=rid lines): this server needs one of them')
}

/** The rid a section's media is taken by: its first sent one, when it offers simulcast (or rids) and no SSRC. */
function sendRid(section: MediaDescription): string | undefined {
  if (section.ssrcs !== undefined && section.ssrcs.length > 0) return undefined
  const rid = (section.rids ?? []).find((r) => r.direction === 'send')
  return rid === undefined ? undefined : String(rid.id)
}

/** What the SFU transport says about itself, as createTransport answers. */
export interface TransportSide {
  iceParameters: types.IceParameters
  iceCandidates: types.IceCandidate[]
  dtlsParameters: types.DtlsParameters
}

/** The answer: the taken sections receive (WHIP) or send (WHEP) on the SFU transport (one bundle), the others are declined. */
export function writeAnswer(read: ReadOffer, transport: TransportSide): string {
  const {offer} = read
  const fingerprint = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0]!
  const setup = read.dtlsParameters.role === 'client' ? 'passive' : 'active'
  const candidates = transport.iceCandidates.map((c) => ({
    foundation: c.foundation,
    component: 1,
    transport: c.protocol,
    priority: c.priority,
    ip: c.address,
    port: c.port,
    type: c.type,
    ...(c.tcpType === undefined ? {} : {tcptype: c.tcpType}),
  }))
  const media: MediaDescription[] = offer.media.map((section, index) => {
    const taken = read.media.find((m) => m.index === index)
    const mid = section.mid === undefined ? String(index) : String(section.mid)
    if (taken === undefined) {
      return {type: section.type, port: 0, protocol: section.protocol, payloads: String(section.payloads ?? ''), rtp: [], fmtp: [], mid, direction: 'inactive' as const}
    }
    const codec = taken.rtpParameters.codecs[0]!
    const name = codec.mimeType.split('/')[1]!
    const config = Object.entries(codec.parameters ?? {})
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(';')
    const ssrc = taken.rtpParameters.encodings?.[0]?.ssrc
    const cname = taken.rtpParameters.rtcp?.cname ?? 'shing'
    const sending =
      taken.send === undefined
        ? {direction: 'recvonly' as const}
        : {
            direction: 'sendonly' as const,
            msid: [{id: taken.send.streamId, appdata: taken.send.trackId}],
            ...(ssrc === undefined
              ? {}
              : {ssrcs: [{id: ssrc, attribute: 'cname', value: cname}, {id: ssrc, attribute: 'msid', value: `${taken.send.streamId} ${taken.send.trackId}`}]}),
          }
    return {
      type: section.type,
      port: 7,
      protocol: 'UDP/TLS/RTP/SAVPF',
      payloads: String(codec.payloadType),
      connection: {version: 4, ip: '127.0.0.1'},
      mid,
      ...sending,
      iceUfrag: transport.iceParameters.usernameFragment,
      icePwd: transport.iceParameters.password,
      candidates,
      endOfCandidates: 'end-of-candidates' as const,
      setup,
      rtcpMux: 'rtcp-mux',
      rtcpRsize: 'rtcp-rsize',
      rtp: [{payload: codec.payloadType, codec: name, rate: codec.clockRate, ...(codec.channels === undefined || codec.channels === 1 ? {} : {encoding: codec.channels})}],
      fmtp: config === '' ? [] : [{payload: codec.payloadType, config}],
      rtcpFb: (codec.rtcpFeedback ?? []).map((f) => ({payload: String(codec.payloadType), type: f.type, ...(f.parameter === undefined || f.parameter === '' ? {} : {subtype: f.parameter})})),
      ext: (taken.rtpParameters.headerExtensions ?? []).map((e) => ({value: e.id, uri: e.uri})),
      ...(taken.send !== undefined || taken.rtpParameters.encodings?.[0]?.rid === undefined
        ? {}
        : {rids: [{id: taken.rtpParameters.encodings[0].rid, direction: 'recv'}], simulcast: {dir1: 'recv', list1: taken.rtpParameters.encodings[0].rid}}),
    }
  })
  const answer: SessionDescription = {
    version: 0,
    origin: {username: '-', sessionId: String(Date.now()), sessionVersion: 1, netType: 'IN', ipVer: 4, address: '127.0.0.1'},
    name: '-',
    timing: {start: 0, stop: 0},
    icelite: 'ice-lite',
    fingerprint: {type: fingerprint.algorithm, hash: fingerprint.value},
    ...((offer.groups ?? []).some((g) => g.type === 'BUNDLE') ? {groups: [{type: 'BUNDLE', mids: read.media.map((m) => m.mid).join(' ')}]} : {}),
    msidSemantic: {semantic: 'WMS', token: '*'},
    media,
  }
  return sdpTransform.write(answer)
}

/** One stream the SFU sends to ffmpeg over plain RTP: where ffmpeg listens, and the consumer's RTP parameters. */
export interface PlainStream {
  kind: 'audio' | 'video'
  port: number
  rtpParameters: types.RtpParameters
}

/** The SDP ffmpeg reads to receive the streams (RTCP on the RTP port, as the SFU sends it). */
export function ffmpegSdp(ip: string, streams: PlainStream[]): string {
  const ipVer = ip.includes(':') ? 6 : 4
  const lines = ['v=0', `o=- 0 0 IN IP${ipVer} ${ip}`, 's=shing whip', `c=IN IP${ipVer} ${ip}`, 't=0 0']
  for (const stream of streams) {
    const codec = stream.rtpParameters.codecs[0]!
    const name = codec.mimeType.split('/')[1]!
    lines.push(`m=${stream.kind} ${stream.port} RTP/AVP ${codec.payloadType}`)
    lines.push(`a=rtpmap:${codec.payloadType} ${name}/${codec.clockRate}${codec.channels === undefined || codec.channels === 1 ? '' : `/${codec.channels}`}`)
    const config = Object.entries(codec.parameters ?? {})
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(';')
    if (config !== '') lines.push(`a=fmtp:${codec.payloadType} ${config}`)
    lines.push('a=rtcp-mux', 'a=recvonly')
  }
  return `${lines.join('\r\n')}\r\n`
}

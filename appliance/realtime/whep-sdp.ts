/**
 * A WHEP viewer's offer, read into what the SFU needs to send to it: the DTLS side of its
 * transport, the codecs and header extensions it receives (as mediasoup RTP capabilities, with the
 * offer's own payload types and extension ids, so that the consumers' RTP is what the answer
 * says), and which of its sections take the video and the audio. The answer is written by
 * whip-sdp's writeAnswer, the sections marked as sent.
 */
import type {types} from 'mediasoup'
import sdpTransform, {type SessionDescription} from 'sdp-transform'

import {fmtpOf, type ReadOffer} from '../ingest/whip-sdp.js'

/** An offer the web cannot answer; the message is for the page's or player's user (400). */
export class WhepOfferError extends Error {}

export interface ViewerOffer {
  offer: SessionDescription
  dtlsParameters: types.DtlsParameters
  /** What the viewer receives, in mediasoup's terms. */
  rtpCapabilities: types.RtpCapabilities
  /** The first receiving section of each kind: index and mid. */
  sections: Partial<Record<'audio' | 'video', {index: number; mid: string}>>
}

/** Not codecs of their own: ridden along with one. */
const AUXILIARY = /^(rtx|red|ulpfec|flexfec-03|telephone-event|cn)$/i

export function readViewerOffer(sdp: string): ViewerOffer {
  let offer: SessionDescription
  try {
    offer = sdpTransform.parse(sdp)
  } catch {
    throw new WhepOfferError('The body is not an SDP offer')
  }
  if (offer.version === undefined || offer.media.length === 0) throw new WhepOfferError("The body is not an SDP offer: send the player's offer as application/sdp")
  const codecs: types.RtpCodecCapability[] = []
  const headerExtensions: types.RtpHeaderExtension[] = []
  const sections: ViewerOffer['sections'] = {}
  let fingerprint: {type: string; hash: string} | undefined
  let setup: string | undefined
  for (const [index, section] of offer.media.entries()) {
    const kind = section.type
    if (kind !== 'audio' && kind !== 'video') continue
    if (section.port === 0 || section.direction === 'sendonly' || section.direction === 'inactive') continue
    if (sections[kind] !== undefined) continue
    sections[kind] = {index, mid: section.mid === undefined ? String(index) : String(section.mid)}
    fingerprint ??= section.fingerprint ?? offer.fingerprint
    setup ??= section.setup ?? offer.setup
    for (const rtp of section.rtp) {
      // A payload type is 0-127 (RFC 3551); anything else is no offer a browser made.
      if (AUXILIARY.test(rtp.codec) || !Number.isInteger(rtp.payload) || rtp.payload < 0 || rtp.payload > 127) continue
      codecs.push({
        kind,
        mimeType: `${kind}/${rtp.codec}` as types.RtpCodecCapability['mimeType'],
        preferredPayloadType: rtp.payload,
        clockRate: rtp.rate ?? (kind === 'audio' ? 48_000 : 90_000),
        ...(kind === 'audio' ? {channels: Number(rtp.encoding ?? 1)} : {}),
        parameters: fmtpOf(section, rtp.payload),
        rtcpFeedback: (section.rtcpFb ?? [])
          .filter((f) => f.payload === '*' || Number(f.payload) === rtp.payload)
          .map((f) => ({type: f.type, parameter: f.subtype ?? ''})),
      })
    }
    for (const ext of section.ext ?? []) headerExtensions.push({kind, uri: ext.uri as types.RtpHeaderExtensionUri, preferredId: ext.value, direction: 'sendrecv'})
  }
  if (sections.video === undefined) throw new WhepOfferError('The offer receives no video: add a recvonly video transceiver (and one for audio)')
  const mids = [sections.video?.mid, sections.audio?.mid].filter((m): m is string => m !== undefined)
  if (mids.length > 1 && !(offer.groups ?? []).some((g) => g.type === 'BUNDLE' && mids.every((mid) => String(g.mids).split(' ').includes(mid)))) {
    throw new WhepOfferError('The offer does not bundle its audio and video (a=group:BUNDLE): this server sends them over one connection')
  }
  if (fingerprint === undefined) throw new WhepOfferError('The offer has no DTLS fingerprint: WHEP needs an encrypted (DTLS-SRTP) offer')
  const role: types.DtlsRole = setup === 'passive' ? 'server' : 'client'
  return {
    offer,
    dtlsParameters: {role, fingerprints: [{algorithm: fingerprint.type.toLowerCase() as types.FingerprintAlgorithm, value: fingerprint.hash}]},
    rtpCapabilities: {codecs, headerExtensions},
    sections,
  }
}

/** What writeAnswer takes: the viewer's sections, each with the consumer the SFU sends it by. */
export function answerable(read: ViewerOffer, consumers: Partial<Record<'audio' | 'video', types.RtpParameters>>, streamId: string): ReadOffer {
  const media: ReadOffer['media'] = []
  for (const kind of ['video', 'audio'] as const) {
    const section = read.sections[kind]
    const rtpParameters = consumers[kind]
    if (section === undefined || rtpParameters === undefined) continue
    media.push({index: section.index, mid: section.mid, kind, rtpParameters, send: {streamId, trackId: `${streamId}-${kind}`}})
  }
  return {offer: read.offer, dtlsParameters: read.dtlsParameters, media}
}

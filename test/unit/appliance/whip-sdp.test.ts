/**
 * The SDP of a WHIP session (an encoder's offer read into what mediasoup takes, the answer written
 * back, and the SDP ffmpeg receives with), and the TURN servers the answer names. The router's
 * capabilities are recorded from mediasoup with the SFU's codecs (test/fixtures/whip); the offer
 * is shaped as Chromium's.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'

import type {types} from 'mediasoup'
import sdpTransform from 'sdp-transform'
import {describe, expect, it} from 'vitest'

import {iceServerLinks} from '../../../appliance/ingest/whip-ingest.js'
import {ffmpegSdp, readOffer, WhipOfferError, writeAnswer} from '../../../appliance/ingest/whip-sdp.js'

const fixtures = path.join(import.meta.dirname, '../../fixtures/whip')
const router = JSON.parse(readFileSync(path.join(fixtures, 'router-rtp-capabilities.json'), 'utf8')) as types.RtpCapabilities
const offer = readFileSync(path.join(fixtures, 'offer-opus-vp8-h264.sdp'), 'utf8')

const transport = {
  iceParameters: {usernameFragment: 'sfuufrag', password: 'sfupassword0123456789', iceLite: true},
  iceCandidates: [
    {foundation: 'udpcandidate', priority: 1076302079, address: '203.0.113.7', ip: '203.0.113.7', protocol: 'udp', port: 40000, type: 'host'},
    {foundation: 'tcpcandidate', priority: 1076276479, address: '203.0.113.7', ip: '203.0.113.7', protocol: 'tcp', port: 40000, type: 'host', tcpType: 'passive'},
  ],
  dtlsParameters: {role: 'auto', fingerprints: [{algorithm: 'sha-384', value: '11:22'}, {algorithm: 'sha-256', value: 'AB:CD'}]},
} as unknown as Parameters<typeof writeAnswer>[1]

describe('reading an offer', () => {
  it('takes H.264 where offered (the ingest copies it), with its SSRC, MID and feedback', () => {
    const read = readOffer(offer, router)
    expect(read.dtlsParameters.role).toBe('client') // actpass: the SFU answers as the DTLS server
    expect(read.dtlsParameters.fingerprints[0]).toMatchObject({algorithm: 'sha-256'})
    const [audio, video] = read.media
    expect(audio).toMatchObject({kind: 'audio', mid: '0'})
    expect(audio!.rtpParameters.codecs).toEqual([expect.objectContaining({mimeType: 'audio/opus', payloadType: 111, channels: 2})])
    expect(audio!.rtpParameters.encodings).toEqual([{ssrc: 1111}])
    // VP8 is listed first, as Chromium does, but H.264 costs the ingest no encode.
    expect(video!.rtpParameters.codecs).toEqual([expect.objectContaining({mimeType: 'video/H264', payloadType: 102, parameters: expect.objectContaining({'profile-level-id': '640c1f'})})])
    // The retransmission SSRC (FID's second) is not the stream's.
    expect(video!.rtpParameters.encodings).toEqual([{ssrc: 2222}])
    expect(video!.rtpParameters.headerExtensions?.map((e) => e.uri)).toContain('urn:ietf:params:rtp-hdrext:sdes:mid')
    expect(video!.rtpParameters.codecs[0]!.rtcpFeedback).toEqual([{type: 'nack', parameter: 'pli'}])
    // Without H.264, the first the encoder lists that the SFU takes.
    const vp8 = readOffer(offer.replace(/a=rtpmap:102 H264/, 'a=rtpmap:102 XH264'), router)
    expect(vp8.media[1]!.rtpParameters.codecs[0]).toMatchObject({mimeType: 'video/VP8', payloadType: 96})
    // A section with one payload type (a browser told to send VP8 only).
    const one = readOffer(offer.replace('m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103', 'm=video 9 UDP/TLS/RTP/SAVPF 96'), router)
    expect(one.media[1]!.rtpParameters.codecs[0]).toMatchObject({mimeType: 'video/VP8', payloadType: 96})
  })

  it('matches an OBS-style H.264 offer by profile (High is taken; a profile the SFU lacks is not)', () => {
    const h264Only = offer.replace('m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103', 'm=video 9 UDP/TLS/RTP/SAVPF 102 103')
    expect(readOffer(h264Only, router).media[1]!.rtpParameters.codecs[0]).toMatchObject({mimeType: 'video/H264', payloadType: 102, parameters: {'profile-level-id': '640c1f'}})
    // An all-digit profile-level-id (High 4.0) is a hex string too, not a number.
    expect(readOffer(h264Only.replace('profile-level-id=640c1f', 'profile-level-id=640028'), router).media[1]!.rtpParameters.codecs[0]!.parameters).toMatchObject({'profile-level-id': '640028'})
    const high444 = h264Only.replace('profile-level-id=640c1f', 'profile-level-id=f4001f') // High 4:4:4, which the SFU does not forward
    expect(() => readOffer(high444, router)).toThrow(WhipOfferError)
  })

  it('says which codec to set when none is taken, and refuses what is not an offer', () => {
    const noVideo = offer.replace(/(a=rtpmap:\d+ )(VP8|H264)\//g, '$1XV$2/')
    expect(() => readOffer(noVideo, router)).toThrow("The video is offered in XVVP8, XVH264; this server takes H.264 or VP8: set the encoder's video codec to H.264 or VP8")
    expect(() => readOffer('hello', router)).toThrow(WhipOfferError)
    expect(() => readOffer(offer.replace(/a=fingerprint:.*\r?\n/g, ''), router)).toThrow('DTLS fingerprint')
    expect(() => readOffer(offer.replace(/a=sendonly/g, 'a=recvonly'), router)).toThrow('sends no audio or video')
    // Audio and video over one connection, or not at all.
    expect(() => readOffer(offer.replace(/a=group:BUNDLE 0 1\r?\n/, ''), router)).toThrow('does not bundle')
  })

  it('takes a simulcast offer by its first layer, and the answer names only that one', () => {
    const simulcast = offer
      .replace(/a=ssrc-group:FID 2222 3333\r?\na=ssrc:2222 cname:abc\r?\na=ssrc:3333 cname:abc\r?\n/, 'a=rid:q send\r\na=rid:h send\r\na=simulcast:send q;h\r\n')
      .replace('a=extmap:3 http://www.ietf.org', 'a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=extmap:3 http://www.ietf.org')
    const read = readOffer(simulcast, router)
    expect(read.media[1]!.rtpParameters.encodings).toEqual([{rid: 'q'}])
    const answer = sdpTransform.parse(writeAnswer(read, transport))
    expect(answer.media[1]!.rids).toEqual([{id: 'q', direction: 'recv'}])
    expect(answer.media[1]!.simulcast).toMatchObject({dir1: 'recv', list1: 'q'})
  })
})

describe('the answer', () => {
  it('receives both tracks on one ICE-lite transport, as the DTLS server, with the codec chosen', () => {
    const read = readOffer(offer, router)
    const answer = sdpTransform.parse(writeAnswer(read, transport))
    expect(answer.icelite).toBe('ice-lite')
    expect(answer.groups).toEqual([{type: 'BUNDLE', mids: '0 1'}])
    expect(answer.fingerprint).toEqual({type: 'sha-256', hash: 'AB:CD'})
    for (const media of answer.media) {
      expect(media.direction).toBe('recvonly')
      expect(media.setup).toBe('passive')
      expect(media.iceUfrag).toBe('sfuufrag')
      expect(media.candidates?.map((c) => `${c.transport} ${c.ip} ${c.port}${c.tcptype === undefined ? '' : ` ${c.tcptype}`}`)).toEqual(['udp 203.0.113.7 40000', 'tcp 203.0.113.7 40000 passive'])
    }
    expect(String(answer.media[1]!.payloads)).toBe('102')
    expect(answer.media[1]!.rtp).toEqual([{payload: 102, codec: 'H264', rate: 90000}])
  })

  it('declines a section it does not take (a data channel) with port 0', () => {
    const withData = `${offer.trimEnd()}\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=sctp-port:5000\r\n`
    const answer = sdpTransform.parse(writeAnswer(readOffer(withData, router), transport))
    expect(answer.media[2]).toMatchObject({type: 'application', port: 0, mid: 2})
    expect(answer.groups?.[0]?.mids).toBe('0 1')
  })
})

it("ffmpeg's SDP names each stream's port and codec, RTCP on the RTP port", () => {
  const sdp = ffmpegSdp('10.0.1.5', [
    {kind: 'audio', port: 40100, rtpParameters: {codecs: [{mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2, parameters: {useinbandfec: 1}}], encodings: []}},
    {kind: 'video', port: 40102, rtpParameters: {codecs: [{mimeType: 'video/H264', payloadType: 101, clockRate: 90000, parameters: {'packetization-mode': 1}}], encodings: []}},
  ])
  expect(sdp).toContain('c=IN IP4 10.0.1.5')
  expect(sdp).toContain('m=audio 40100 RTP/AVP 100\r\na=rtpmap:100 opus/48000/2\r\na=fmtp:100 useinbandfec=1\r\na=rtcp-mux')
  expect(sdp).toContain('m=video 40102 RTP/AVP 101\r\na=rtpmap:101 H264/90000\r\na=fmtp:101 packetization-mode=1')
})

it("the SFU's TURN server goes to the encoder as RFC 9725's Link headers, only where it runs one", () => {
  const sfu = {id: 'sfu-1', role: 'sfu', host: '10.0.1.9', ports: {http: 9100, turn: 3478}, startedAt: '', heartbeatAt: '', load: {streams: 0, viewers: 0, cpu: 0, egressBitsPerSecond: 0}} as const
  const links = iceServerLinks({...sfu, ports: {...sfu.ports}, load: {...sfu.load}}, 'live.example.org', 'secret', 'alice', Date.UTC(2026, 11, 7, 9, 0))
  expect(links).toHaveLength(2)
  expect(links[0]).toMatch(/^<turn:live\.example\.org:3478\?transport=udp>; rel="ice-server"; username="\d+:whip:alice"; credential="[A-Za-z0-9+/=]+"; credential-type="password"$/)
  expect(links[1]).toContain('<turn:live.example.org:3478?transport=tcp>')
  expect(iceServerLinks({...sfu, ports: {http: 9100}, load: {...sfu.load}}, 'live.example.org', 'secret', 'alice')).toEqual([])
})

/**
 * A WHEP viewer's offer (recorded from Chromium: recvonly video, then audio) read into mediasoup's
 * terms, and the answer written for what the SFU sends. The router's capabilities are the SFU's,
 * recorded from mediasoup (test/fixtures/whip).
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'

import type {types} from 'mediasoup'
import sdpTransform from 'sdp-transform'
import {describe, expect, it} from 'vitest'

import {REALTIME_CODECS} from '../../../appliance/contract/index.js'
import {writeAnswer} from '../../../appliance/ingest/whip-sdp.js'
import {answerable, readViewerOffer, WhepOfferError} from '../../../appliance/realtime/whep-sdp.js'

const offer = readFileSync(path.join(import.meta.dirname, '../../fixtures/whep/offer-recvonly-chromium.sdp'), 'utf8')

const transport = {
  iceParameters: {usernameFragment: 'sfuufrag', password: 'sfupassword0123456789', iceLite: true},
  iceCandidates: [{foundation: 'udpcandidate', priority: 1076302079, address: '203.0.113.7', ip: '203.0.113.7', protocol: 'udp', port: 40000, type: 'host'}],
  dtlsParameters: {role: 'auto', fingerprints: [{algorithm: 'sha-256', value: 'AB:CD'}]},
} as unknown as Parameters<typeof writeAnswer>[1]

describe('a WHEP viewer\'s offer', () => {
  it('reads the codecs it receives with its own payload types (no retransmission or redundancy codecs), its extensions, its sections and its DTLS side', () => {
    const read = readViewerOffer(offer)
    expect(read.sections).toEqual({video: {index: 0, mid: '0'}, audio: {index: 1, mid: '1'}})
    expect(read.dtlsParameters).toEqual({role: 'client', fingerprints: [{algorithm: 'sha-256', value: expect.stringMatching(/^33:FA/)}]})
    const codecs = read.rtpCapabilities.codecs ?? []
    // The H.264 the ingest sends is among them, as Chromium numbers it.
    const baseline = codecs.find((c) => c.mimeType === 'video/H264' && c.parameters?.['profile-level-id'] === '42e01f' && c.parameters['packetization-mode'] === 1)
    expect(baseline?.preferredPayloadType).toBe(108)
    expect(baseline?.rtcpFeedback).toEqual(expect.arrayContaining([{type: 'nack', parameter: 'pli'}]))
    expect(codecs.find((c) => c.mimeType === 'audio/opus')).toMatchObject({preferredPayloadType: 111, channels: 2, clockRate: 48_000})
    expect(codecs.some((c) => /rtx|red|ulpfec/i.test(c.mimeType))).toBe(false)
    expect(read.rtpCapabilities.headerExtensions).toEqual(expect.arrayContaining([{kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 9, direction: 'sendrecv'}]))
  })

  it('from this Chromium lists Constrained Baseline but no High H.264: the real-time video is Constrained Baseline', () => {
    const read = readViewerOffer(offer)
    const h264 = (read.rtpCapabilities.codecs ?? []).filter((c) => c.mimeType === 'video/H264').map((c) => String(c.parameters?.['profile-level-id']))
    expect(h264).not.toContain('64001f')
    expect(h264).toContain(REALTIME_CODECS.video.parameters['profile-level-id'])
  })

  it('refuses what is no offer, one that receives nothing, and one without DTLS, saying why', () => {
    expect(() => readViewerOffer('hello')).toThrow(WhepOfferError)
    expect(() => readViewerOffer(offer.replaceAll('a=recvonly', 'a=sendonly'))).toThrow('The offer receives no video')
    expect(() => readViewerOffer(offer.replace(/^a=fingerprint:.*\r?\n/gm, ''))).toThrow('no DTLS fingerprint')
    expect(() => readViewerOffer(offer.replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0'))).toThrow('does not bundle')
  })
})

describe('the answer to it', () => {
  it('sends each section the consumer\'s payload type, SSRC and stream, from the SFU\'s ICE-lite transport', () => {
    const read = readViewerOffer(offer)
    const video: types.RtpParameters = {
      mid: '0',
      codecs: [{mimeType: 'video/H264', payloadType: 108, clockRate: 90_000, parameters: {'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1}, rtcpFeedback: [{type: 'nack', parameter: 'pli'}]}],
      headerExtensions: [{uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 9}],
      encodings: [{ssrc: 424242}],
      rtcp: {cname: 'shing-rt'},
    }
    const audio: types.RtpParameters = {mid: '1', codecs: [{mimeType: 'audio/opus', payloadType: 111, clockRate: 48_000, channels: 2, parameters: {}}], headerExtensions: [], encodings: [{ssrc: 515151}], rtcp: {cname: 'shing-rt'}}
    const answer = sdpTransform.parse(writeAnswer(answerable(read, {video, audio}, 'shing-rt'), transport))
    expect(answer.icelite).toBe('ice-lite')
    expect(answer.groups).toEqual([{type: 'BUNDLE', mids: '0 1'}])
    const [v, a] = answer.media
    // (sdp-transform reads an all-digit value as a number)
    expect(v).toMatchObject({type: 'video', mid: 0, direction: 'sendonly', payloads: 108, setup: 'passive', msid: [{id: 'shing-rt', appdata: 'shing-rt-video'}]})
    expect(v!.ssrcs).toEqual(expect.arrayContaining([{id: 424242, attribute: 'cname', value: 'shing-rt'}]))
    expect(v!.ext).toEqual([{value: 9, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid'}])
    expect(a).toMatchObject({type: 'audio', mid: 1, direction: 'sendonly', payloads: 111})
    expect(a!.rtp).toEqual([{payload: 111, codec: 'opus', rate: 48_000, encoding: 2}])
  })

  it('declines a section the SFU sends nothing for (a broadcast without audio)', () => {
    const read = readViewerOffer(offer)
    const video: types.RtpParameters = {codecs: [{mimeType: 'video/H264', payloadType: 108, clockRate: 90_000, parameters: {}}], encodings: [{ssrc: 1}], rtcp: {cname: 'x'}}
    const answer = sdpTransform.parse(writeAnswer(answerable(read, {video}, 'shing-rt'), transport))
    expect(answer.media[1]).toMatchObject({type: 'audio', port: 0, direction: 'inactive'})
    expect(answer.groups).toEqual([{type: 'BUNDLE', mids: 0}])
  })
})

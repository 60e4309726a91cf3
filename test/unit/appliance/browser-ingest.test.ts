/** The browser-broadcast protocol's pure parts: tickets, what a recording is, and the bridge's ffmpeg arguments. */
import {describe, expect, it} from 'vitest'

import {checkTicket, mintTicket, TICKET_TTL_MS} from '../../../appliance/contract/index.js'
import {bridgeArgs, containerOf, startsLike} from '../../../appliance/ingest/browser-ingest.js'

const SECRET = 'a stream key secret'
const top = {fps: 30, videoKbps: 4500, segmentSeconds: 2}

describe('publish tickets', () => {
  it('a ticket names its channel and passes until it expires', () => {
    const now = Date.parse('2026-12-07T10:00:00Z')
    const ticket = mintTicket(SECRET, 'cam-show', now)
    expect(checkTicket(SECRET, ticket, now + 1000)).toMatchObject({ok: true, channel: 'cam-show', expires: now + TICKET_TTL_MS})
    expect(checkTicket(SECRET, ticket, now + TICKET_TTL_MS + 1)).toEqual({ok: false, why: 'the ticket expired: ask the site for a new one'})
  })

  it('another secret, a changed channel or expiry, and junk are refused', () => {
    const ticket = mintTicket(SECRET, 'cam-show')
    expect(checkTicket('another secret', ticket)).toEqual({ok: false, why: 'the ticket is not signed by this site'})
    expect(checkTicket(SECRET, ticket.replace('cam-show', 'someone-else'))).toEqual({ok: false, why: 'the ticket is not signed by this site'})
    const [channel, expires, nonce, mac] = ticket.split('.')
    expect(checkTicket(SECRET, [channel, Number(expires) + 3_600_000, nonce, mac].join('.')).ok).toBe(false)
    for (const junk of ['', 'a.b.c', 'a.b.c.d.e', '<script>.1.2.3']) expect(checkTicket(SECRET, junk).ok).toBe(false)
  })

  it('two tickets for the same channel differ (each is good for one socket)', () => {
    expect(mintTicket(SECRET, 'cam-show')).not.toBe(mintTicket(SECRET, 'cam-show'))
  })
})

describe('recordings', () => {
  it('MediaRecorder types map to the container ffmpeg is told to read', () => {
    expect(containerOf('video/webm;codecs=h264,opus')).toBe('matroska')
    expect(containerOf('video/x-matroska;codecs=avc1,opus')).toBe('matroska')
    expect(containerOf('video/mp4;codecs=avc1,mp4a.40.2')).toBe('mp4')
    expect(containerOf('video/ogg')).toBeUndefined()
    expect(containerOf('')).toBeUndefined()
  })

  it('a recording starts with its container header', () => {
    expect(startsLike('matroska', Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f]))).toBe(true)
    expect(startsLike('matroska', Buffer.from('garbage'))).toBe(false)
    expect(startsLike('mp4', Buffer.from('\0\0\0\x18ftypisom', 'latin1'))).toBe(true)
    expect(startsLike('mp4', Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0]))).toBe(false)
  })

  it('H.264 is copied; VP8 and VP9 are encoded once at the ladder top with keyframes on segment boundaries; audio becomes AAC', () => {
    const url = 'rtmp://127.0.0.1:1935/live/k'
    const copied = bridgeArgs('video/webm;codecs=h264,opus', url, top)
    expect(copied.join(' ')).toContain('-f matroska -i pipe:0')
    expect(copied.join(' ')).toContain('-c:v copy')
    expect(copied.join(' ')).toContain('-c:a aac')
    expect(copied.slice(-3)).toEqual(['-f', 'flv', url])
    const encoded = bridgeArgs('video/webm;codecs=vp8,opus', url, top).join(' ')
    expect(encoded).toContain('-c:v libx264')
    expect(encoded).toContain('-g 60')
    expect(encoded).toContain('-b:v 4500k')
    expect(bridgeArgs('video/mp4;codecs=avc1', url, top).join(' ')).toContain('-f mp4 -i pipe:0')
  })
})

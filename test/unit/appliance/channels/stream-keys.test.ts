import {createHmac} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {AdminAbort, parseRequest} from '../../../../appliance/admin/operations.js'
import {redactStreamNames} from '../../../../appliance/ingest/rtmp-ingest.js'
import {streamStateSchema} from '../../../../appliance/contract/index.js'
import {assertChannel, hashStreamKey, InvalidChannelError, keyIdOf, newStreamKey} from '../../../../appliance/channels/stream-keys.js'
import {buildStreamState, newStreamId, renditionsOf} from '../../../../appliance/channels/stream-state.js'

describe('stream keys', () => {
  it('are 32 random bytes, url-safe, and fit an RTMP stream name', () => {
    const keys = new Set(Array.from({length: 50}, () => newStreamKey()))
    expect(keys.size).toBe(50)
    for (const key of keys) expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('are stored as HMAC-SHA256 with the secret; the key id is a prefix of the HMAC, not of the key', () => {
    const key = newStreamKey()
    const hash = hashStreamKey('s3cret', key)
    expect(hash).toBe(createHmac('sha256', 's3cret').update(key).digest('hex'))
    expect(hashStreamKey('other', key)).not.toBe(hash)
    expect(keyIdOf(hash)).toBe(hash.slice(0, 12))
    expect(key.startsWith(keyIdOf(hash))).toBe(false)
  })

  it('belong to channels with valid names only', () => {
    expect(() => assertChannel('alice_2-b')).not.toThrow()
    for (const bad of ['', 'Alice', '-x', 'a b', 'a/b', 'x'.repeat(64)]) expect(() => assertChannel(bad)).toThrow(InvalidChannelError)
  })
})

describe('stream state', () => {
  it('lists the ladder as renditions with HLS bandwidth (video + audio)', () => {
    expect(renditionsOf([{name: '720p', height: 720, fps: 30, videoKbps: 2500, audioKbps: 128}])).toEqual([{name: '720p', height: 720, bandwidth: 2_628_000}])
  })

  it('gets a new, time-sortable stream id per broadcast', () => {
    const now = new Date('2025-01-02T03:04:05.678Z')
    expect(newStreamId(now)).toMatch(/^20250102T030405Z-[0-9a-f]{8}$/)
    expect(newStreamId(now)).not.toBe(newStreamId(now))
    const state = buildStreamState({channel: 'alice', ingestId: 'ingest-1', origin: '10.0.0.5:8081', renditions: [], now})
    expect(streamStateSchema.parse(state)).toEqual({channel: 'alice', streamId: expect.stringMatching(/^20250102T030405Z-/), since: '2025-01-02T03:04:05.678Z', ingestId: 'ingest-1', origin: '10.0.0.5:8081', renditions: []})
  })
})

describe('ingest log redaction', () => {
  it('keeps stream keys out of node-media-server lines, and leaves other paths alone', () => {
    expect(redactStreamNames('RTMP session a 127.0.0.1:5 start push /live/AbC_-9')).toBe('RTMP session a 127.0.0.1:5 start push /live/[key]')
    expect(redactStreamNames('push /live/k1 error, streamPath=/live/k1 already has a publisher')).toBe('push /live/[key] error, streamPath=/live/[key] already has a publisher')
    expect(redactStreamNames('invalid stream path characters: app=live, name=k1!x')).toBe('invalid stream path characters: app=live, name=[key]')
    expect(redactStreamNames('Store ready at /tmp/shing-ingest-x')).toBe('Store ready at /tmp/shing-ingest-x')
  })
})

describe('admin operation requests', () => {
  it('parse an operation and its JSON input with the contract schema', () => {
    expect(parseRequest(['stream-key.create', '{"channel":"alice"}'])).toEqual({name: 'stream-key.create', input: {channel: 'alice'}})
    expect(parseRequest(['stream-key.list'])).toEqual({name: 'stream-key.list', input: {}})
    expect(parseRequest(['stream-key.revoke', '{"channel":"alice","keyId":"abc"}'])).toEqual({name: 'stream-key.revoke', input: {channel: 'alice', keyId: 'abc'}})
  })

  it('refuse what they do not know, saying what is wrong', () => {
    expect(() => parseRequest([])).toThrow(/usage.*stream-key\.create/)
    expect(() => parseRequest(['user.create', '{}'])).toThrow(AdminAbort)
    expect(() => parseRequest(['stream-key.create', '{channel:'])).toThrow(/not JSON/)
    expect(() => parseRequest(['stream-key.create', '{}'])).toThrow(/channel/)
    expect(() => parseRequest(['stream-key.create', '{"channel":"Alice"}'])).toThrow(/channel: a channel name is 1-63/)
    expect(() => parseRequest(['stream-key.create', '{"channel":"alice","extra":1}'])).toThrow(/extra/)
  })
})

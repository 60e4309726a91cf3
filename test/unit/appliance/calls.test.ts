import {createHmac} from 'node:crypto'

import {expect, it} from 'vitest'

import {turnCredentials, turnHost, turnSecret} from '../../../appliance/contract/index.js'

it('TURN credentials follow coturn\'s REST scheme, last at least 12 h, and stay the same within the hour', () => {
  const now = Date.parse('2026-12-07T10:20:00Z')
  const {username, credential} = turnCredentials('k'.repeat(64), 'user-1', now)
  const [expiry, user] = username.split(':')
  expect(user).toBe('user-1')
  expect(Number(expiry) * 1000 - now).toBeGreaterThanOrEqual(12 * 3600 * 1000)
  expect(Number(expiry) % 3600).toBe(0)
  expect(credential).toBe(createHmac('sha1', turnSecret('k'.repeat(64))).update(username).digest('base64'))
  expect(turnCredentials('k'.repeat(64), 'user-1', now + 10 * 60_000).username).toBe(username)
  expect(turnCredentials('other-secret'.repeat(4), 'user-1', now).credential).not.toBe(credential)
})

it('a TURN URL\'s host: a name or IPv4 without its port, IPv6 in brackets', () => {
  expect(turnHost('live.example.org')).toBe('live.example.org')
  expect(turnHost('live.example.org:8443')).toBe('live.example.org')
  expect(turnHost('203.0.113.9')).toBe('203.0.113.9')
  expect(turnHost('2001:db8::7')).toBe('[2001:db8::7]')
  expect(turnHost('[2001:db8::7]:443')).toBe('[2001:db8::7]')
})

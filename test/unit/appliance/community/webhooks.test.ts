/** Webhooks' pure parts: which addresses are private, the URL rules, and the signature (checked as docs/webhooks.md tells a receiver to). */
import {createHmac, timingSafeEqual} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {checkWebhookUrl, isPrivateAddress, webhookSignature} from '../../../../appliance/community/webhooks.js'

describe('private addresses', () => {
  it.each(['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not an address'])('%s is refused', (address) => {
    expect(isPrivateAddress(address)).toBe(true)
  })
  it.each(['93.184.215.14', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(isPrivateAddress(address)).toBe(false)
  })
})

describe('a webhook address', () => {
  const resolveTo = (addresses: string[]) => async () => addresses
  it('takes https and http to public hosts', async () => {
    expect((await checkWebhookUrl(' https://hooks.example.org/shing#x ', false, resolveTo(['93.184.215.14']))).href).toBe('https://hooks.example.org/shing')
    expect((await checkWebhookUrl('http://hooks.example.org/', false, resolveTo(['93.184.215.14']))).protocol).toBe('http:')
  })

  it('refuses other schemes, credentials, private hosts (by name or number) and names that do not resolve', async () => {
    await expect(checkWebhookUrl('ftp://hooks.example.org', false, resolveTo([]))).rejects.toThrow('Only https:// (or http://) addresses.')
    await expect(checkWebhookUrl('https://me:pw@hooks.example.org', false, resolveTo(['93.184.215.14']))).rejects.toThrow('No user name or password')
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', false)).rejects.toThrow('127.0.0.1 is a private, loopback or link-local address: webhooks go to public addresses only on this site.')
    await expect(checkWebhookUrl('http://[::1]/hook', false)).rejects.toThrow('::1 is a private')
    await expect(checkWebhookUrl('https://inside.example.org', false, resolveTo(['93.184.215.14', '10.0.0.5']))).rejects.toThrow('(10.0.0.5)')
    await expect(checkWebhookUrl('https://nowhere.example.org', false, async () => Promise.reject(new Error('ENOTFOUND')))).rejects.toThrow('cannot be found')
    expect((await checkWebhookUrl('http://127.0.0.1:8080/hook', true)).host).toBe('127.0.0.1:8080')
  })
})

describe('the signature', () => {
  it('is HMAC-SHA256 over "<timestamp>.<body>", checked the way a receiver does', () => {
    const secret = 'whsec_test'
    const body = JSON.stringify({event: 'live', channel: 'night-owls'})
    const header = webhookSignature(secret, 1_800_000_000, body)
    const {t, v1} = Object.fromEntries(header.split(',').map((part) => part.split('='))) as {t: string; v1: string}
    expect(t).toBe('1800000000')
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest()
    expect(timingSafeEqual(Buffer.from(v1, 'hex'), expected)).toBe(true)
  })
})

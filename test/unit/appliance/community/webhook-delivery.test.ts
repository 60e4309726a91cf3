/**
 * One delivery's HTTP POST against a real local server: the address is checked at connect time
 * (a name that resolves to loopback now is refused, whatever it resolved to when the webhook was
 * saved), unless the site allows private addresses; redirects are answered, not followed.
 */
import http from 'node:http'
import {once} from 'node:events'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {deliver} from '../../../../appliance/community/webhook-delivery.js'
import {WebhookAddressError} from '../../../../appliance/community/webhooks.js'

let server: http.Server
let port: number
const bodies: string[] = []

beforeAll(async () => {
  server = http.createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      bodies.push(body)
      if (request.url === '/moved') response.writeHead(302, {location: 'http://169.254.169.254/'}).end()
      else response.writeHead(204).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  port = (server.address() as {port: number}).port
})

afterAll(() => {
  server.close()
})

const request = (url: string, allowPrivateAddresses: boolean) => deliver({url, body: '{"event":"live"}', headers: {'content-type': 'application/json'}, allowPrivateAddresses, timeoutMs: 5000})

describe('a delivery', () => {
  it('is refused at connect time when the name resolves to a private address, and nothing is sent', async () => {
    const before = bodies.length
    await expect(request(`http://localhost:${port}/hook`, false)).rejects.toBeInstanceOf(WebhookAddressError)
    await expect(request(`http://127.0.0.1:${port}/hook`, false)).rejects.toThrow('127.0.0.1 is a private, loopback or link-local address: refused')
    expect(bodies.length).toBe(before)
  })

  it('goes through where the site allows private addresses; a redirect is answered, not followed', async () => {
    expect(await request(`http://localhost:${port}/hook`, true)).toEqual({status: 204})
    expect(bodies.at(-1)).toBe('{"event":"live"}')
    expect((await request(`http://127.0.0.1:${port}/moved`, true)).status).toBe(302)
  })
})

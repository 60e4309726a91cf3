/**
 * The write path against real sockets: a viewer that stops reading holds the send back (no
 * buffering beyond a chunk), gets every byte once it reads, and is cut off when it stalls.
 */
import {randomBytes} from 'node:crypto'
import {once} from 'node:events'
import http from 'node:http'
import net from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {SendTracker, type SendOutcome} from '../../../../appliance/relay/send.js'

const CHUNK = 64 * 1024
const body = randomBytes(8 * 1024 * 1024)
let server: http.Server | undefined

afterEach(async () => {
  server?.closeAllConnections()
  server?.close()
  server = undefined
})

async function serve(tracker: SendTracker, stallMs: number, outcomes: SendOutcome[], sent: {bytes: number}): Promise<number> {
  server = http.createServer((_request, response) => {
    void tracker.send(response, 200, {'content-type': 'video/mp4'}, body, false, {chunkBytes: CHUNK, stallMs, onBytes: (n) => (sent.bytes += n)}).then((o) => outcomes.push(o))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('SendTracker.send', () => {
  it('waits for drain while the viewer does not read, buffering at most about a chunk, then delivers every byte', async () => {
    const tracker = new SendTracker()
    const outcomes: SendOutcome[] = []
    const sent = {bytes: 0}
    const port = await serve(tracker, 10_000, outcomes, sent)
    const socket = net.connect({port, host: '127.0.0.1'})
    socket.pause()
    await once(socket, 'connect')
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await until(() => tracker.waitingForDrain() === 1)
    // Let it sit: nothing more is handed to the socket while the viewer reads nothing.
    const stalledAt = sent.bytes
    await new Promise((r) => setTimeout(r, 300))
    expect(sent.bytes).toBe(stalledAt)
    expect(stalledAt).toBeLessThan(body.length)
    expect(tracker.bufferedBytes()).toBeLessThanOrEqual(CHUNK + 64 * 1024)

    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.resume()
    await once(socket, 'end')
    const raw = Buffer.concat(chunks)
    const received = raw.subarray(raw.indexOf('\r\n\r\n') + 4)
    expect(received.equals(body)).toBe(true)
    expect(outcomes).toEqual(['sent'])
    expect(sent.bytes).toBe(body.length)
    expect(tracker.activeSends()).toBe(0)
    expect(tracker.waitingForDrain()).toBe(0)
  })

  it('cuts off a viewer that reads nothing for stallMs', async () => {
    const tracker = new SendTracker()
    const outcomes: SendOutcome[] = []
    const port = await serve(tracker, 200, outcomes, {bytes: 0})
    const socket = net.connect({port, host: '127.0.0.1'})
    socket.pause()
    await once(socket, 'connect')
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await until(() => outcomes.length === 1)
    expect(outcomes).toEqual(['stalled'])
    expect(tracker.activeSends()).toBe(0)
    socket.destroy()
  })

  it('stops at once when the viewer goes away', async () => {
    const tracker = new SendTracker()
    const outcomes: SendOutcome[] = []
    const port = await serve(tracker, 10_000, outcomes, {bytes: 0})
    const socket = net.connect({port, host: '127.0.0.1'})
    socket.pause()
    await once(socket, 'connect')
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await until(() => tracker.waitingForDrain() === 1)
    socket.destroy()
    await until(() => outcomes.length === 1)
    expect(outcomes).toEqual(['closed'])
  })
})

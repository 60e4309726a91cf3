import {expect, it} from 'vitest'

import type {ManagedProcess} from '../harness/process.js'
import {markReal} from '../harness/real-part.js'
import {ffmpegVersion, publishTestStream, startMediaServer} from '../harness/rtmp.js'

// More than the server holds when the reader joins (its GOP cache replays that at once): proves
// the live stream keeps flowing to the reader.
const enough = 256 * 1024

/** Reads an HTTP-FLV response until `bytes` arrived; the stream itself never ends while live. */
async function readAtLeast(body: ReadableStream<Uint8Array>, bytes: number): Promise<Buffer> {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  while (total < bytes) {
    const {done, value} = await reader.read()
    if (done) break
    chunks.push(value)
    total += value.length
  }
  return Buffer.concat(chunks)
}

it('ffmpeg', async (ctx) => {
  const version = await ffmpegVersion()
  let mark = performance.now()
  const lap = (what: string): void => {
    const now = performance.now()
    console.log(`timing: ${what} in ${Math.round(now - mark)} ms`)
    mark = now
  }
  const server = await startMediaServer()
  lap('node-media-server ready')
  let publisher: ManagedProcess | undefined
  const reader = new AbortController()
  try {
    publisher = await publishTestStream({url: server.rtmpUrl('live', 'conformance')})
    lap('ffmpeg publishing (first frames encoded)')
    await server.waitForPublish('live', 'conformance')
    lap('server saw the publish')

    const response = await fetch(server.flvUrl('live', 'conformance'), {signal: reader.signal})
    expect(response.status).toBe(200)
    if (response.body === null) throw new Error('HTTP-FLV response has no body')
    const received = await Promise.race([
      readAtLeast(response.body, enough),
      new Promise<never>((_resolve, reject) => {
        setTimeout(() => reject(new Error(`less than ${enough} bytes of HTTP-FLV within 15 s`)), 15_000).unref()
      }),
    ])
    lap(`HTTP-FLV reader got ${received.length} bytes`)
    expect(received.subarray(0, 3).toString('latin1')).toBe('FLV')
    expect(received.length).toBeGreaterThanOrEqual(enough)

    markReal(ctx, 'ffmpeg', `${version} (${server.version})`)
  } finally {
    reader.abort()
    await publisher?.stop()
    await server.stop()
  }
})

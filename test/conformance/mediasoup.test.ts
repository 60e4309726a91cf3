import {expect, it} from 'vitest'

import {launchChromium, serveDir} from '../harness/chromium.js'
import {startMediasoup, type SignalRequest} from '../harness/mediasoup.js'
import {HarnessError} from '../harness/process.js'
import {markReal} from '../harness/real-part.js'
import {buildWebrtcPage} from '../harness/webrtc-page/build-page.js'

const ms = (since: number): number => Math.round(performance.now() - since)

it('mediasoup', async (ctx) => {
  let started = performance.now()
  const server = await startMediasoup()
  const workerPid = server.worker.pid
  console.log(`timing: mediasoup ${server.version} worker + router up in ${ms(started)} ms`)
  const cleanup: Array<() => Promise<void>> = [() => server.close()]
  const pageLog: string[] = []
  const cleanupErrors: unknown[] = []
  try {
    started = performance.now()
    const built = await buildWebrtcPage()
    cleanup.unshift(() => built.remove())
    console.log(`timing: mediasoup-client page bundled in ${ms(started)} ms`)
    const site = await serveDir(built.dir)
    cleanup.unshift(() => site.close())
    started = performance.now()
    const browser = await launchChromium({fakeMedia: true})
    cleanup.unshift(() => browser.close())
    console.log(`timing: chromium launched in ${ms(started)} ms`)

    const page = await browser.newPage()
    page.on('console', (message) => pageLog.push(`${message.type()}: ${message.text()}`))
    page.on('pageerror', (error) => pageLog.push(`pageerror: ${error.message}`))
    await page.exposeFunction('shingSignal', (request: SignalRequest) => server.signal(request))
    await page.goto(`${site.url}mediasoup.html`)

    // Fake camera → send transport → router → recv transport → <video id="remote">.
    const pageStart = await page.evaluate(() => performance.now())
    started = performance.now()
    const loopback = await page.evaluate(() => window.shingLoopback())
    console.log(`timing: produce + consume negotiated in ${ms(started)} ms (handler ${loopback.handlerName})`)
    await page.waitForFunction(
      () => {
        const video = document.querySelector<HTMLVideoElement>('#remote')
        return video !== null && video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames > 30
      },
      undefined,
      {timeout: 30_000},
    )
    const remote = await page.evaluate(() => {
      const video = document.querySelector<HTMLVideoElement>('#remote')
      return {
        width: video?.videoWidth ?? 0,
        frames: video?.getVideoPlaybackQuality().totalVideoFrames ?? 0,
        firstFrameAt: window.shingFirstRemoteFrameAt,
      }
    })
    if (remote.firstFrameAt === undefined) throw new HarnessError('mediasoup: no frame callback on #remote')
    console.log(
      `timing: first decoded frame ${Math.round(remote.firstFrameAt - pageStart)} ms after the page started the call; ` +
        `${remote.frames} frames at ${remote.width}px wide after ${ms(started)} ms`,
    )
    expect(remote.width).toBeGreaterThan(0)

    // The router really carried it: bytes in from the browser, bytes out to it.
    const producer = server.producers.get(loopback.producerId)
    const consumer = server.consumers.get(loopback.consumerId)
    if (producer === undefined || consumer === undefined) throw new HarnessError('mediasoup: producer or consumer missing on the router')
    const received = (await producer.getStats()).reduce((sum, stat) => sum + stat.byteCount, 0)
    const sent = (await consumer.getStats()).reduce((sum, stat) => sum + (stat.type === 'outbound-rtp' ? stat.byteCount : 0), 0)
    console.log(`mediasoup: producer received ${received} bytes, consumer sent ${sent} bytes`)
    expect(received).toBeGreaterThan(10_000)
    expect(sent).toBeGreaterThan(10_000)
    markReal(ctx, 'mediasoup', server.version)
  } catch (error) {
    if (pageLog.length > 0) console.log(`--- page console ---\n${pageLog.join('\n')}`)
    throw error
  } finally {
    // Every step runs even when one fails; a cleanup failure must not hide the test's own error.
    for (const step of cleanup) {
      await step().catch((error: unknown) => {
        cleanupErrors.push(error)
        console.error('cleanup failed:', error)
      })
    }
  }
  if (cleanupErrors.length > 0) throw cleanupErrors[0]
  // close() waited for the worker's exit; the PID must be gone.
  expect(() => process.kill(workerPid, 0)).toThrow()
})

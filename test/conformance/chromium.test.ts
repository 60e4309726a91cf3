import {expect, it} from 'vitest'

import {launchChromium, serveDir} from '../harness/chromium.js'
import {markReal} from '../harness/real-part.js'
import {webrtcPageSourceDir} from '../harness/webrtc-page/build-page.js'

it('chromium', async (ctx) => {
  let started = performance.now()
  const browser = await launchChromium({fakeMedia: true})
  console.log(`timing: chromium ${browser.version} launched in ${Math.round(performance.now() - started)} ms`)
  const site = await serveDir(webrtcPageSourceDir)
  try {
    const page = await browser.newPage()
    await page.goto(`${site.url}camera.html`)
    expect(await page.evaluate(() => window.isSecureContext)).toBe(true)

    started = performance.now()
    const tracks = await page.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true})
      const video = document.querySelector<HTMLVideoElement>('#local')
      if (video === null) throw new Error('no #local video element')
      video.srcObject = stream
      await video.play()
      return stream.getTracks().map((track) => ({kind: track.kind, state: track.readyState, label: track.label}))
    })
    expect(tracks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({kind: 'video', state: 'live'}),
        expect.objectContaining({kind: 'audio', state: 'live'}),
      ]),
    )

    // Playing means time advances and frames have a size, not merely that play() resolved.
    const firstTime = await page.evaluate(() => document.querySelector<HTMLVideoElement>('#local')?.currentTime ?? -1)
    await page.waitForFunction(
      (from) => {
        const video = document.querySelector<HTMLVideoElement>('#local')
        return video !== null && video.videoWidth > 0 && video.currentTime > from + 0.5
      },
      firstTime,
      {timeout: 15_000},
    )
    console.log(`timing: fake camera playing (0.5 s of media) after ${Math.round(performance.now() - started)} ms`)
    const size = await page.evaluate(() => {
      const video = document.querySelector<HTMLVideoElement>('#local')
      return {width: video?.videoWidth ?? 0, height: video?.videoHeight ?? 0}
    })
    expect(size.width).toBeGreaterThan(0)
    expect(await browser.processes()).not.toHaveLength(0)
    markReal(ctx, 'chromium', browser.version)
  } finally {
    await site.close()
    // Throws if any process of this browser is still alive afterwards.
    await browser.close()
  }
})

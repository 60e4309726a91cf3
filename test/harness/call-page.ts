/**
 * What a test reads of a call page (/calls/<room>): its state (window.shingCall), and what it
 * receives from each other participant, measured in the page: decoded video frames and the
 * loudest sound over a second (Chromium's fake microphone beeps).
 */
import type {Page} from 'playwright-core'

import {waitFor} from './process.js'

export interface CallState {
  phase: string
  sfu?: string
  rejoins: number
  speaker?: string | null
  peers: Record<string, {name: string; producers: string[]}>
  error?: string
}
export const callState = (page: Page): Promise<CallState> => page.evaluate(() => (window as unknown as {shingCall: CallState}).shingCall)

/** What one page receives from each other participant: its name, decoded video frames and size, and the loudest audio it heard over a second. */
export async function received(page: Page): Promise<Array<{name: string; frames: number; width: number; audioRms: number; muted: boolean}>> {
  return page.evaluate(async () => {
    const tiles = [...document.querySelectorAll<HTMLLIElement>('#tiles li[data-peer]')]
    return Promise.all(tiles.map(async (tile) => {
      const video = tile.querySelector('video')!
      const audio = tile.querySelector('audio')!
      let audioRms = 0
      const stream = audio.srcObject as MediaStream | null
      if (stream !== null && stream.getAudioTracks().length > 0) {
        const context = new AudioContext()
        await context.resume()
        const analyser = context.createAnalyser()
        context.createMediaStreamSource(stream).connect(analyser)
        const samples = new Float32Array(analyser.fftSize)
        for (let i = 0; i < 25; i += 1) {
          await new Promise((resolve) => setTimeout(resolve, 50))
          analyser.getFloatTimeDomainData(samples)
          audioRms = Math.max(audioRms, Math.sqrt(samples.reduce((sum, v) => sum + v * v, 0) / samples.length))
        }
        await context.close()
      }
      return {
        name: tile.querySelector('.call-name')!.textContent ?? '',
        frames: video.getVideoPlaybackQuality().totalVideoFrames,
        width: video.videoWidth,
        audioRms,
        muted: !tile.querySelector<HTMLElement>('.call-muted')!.hidden,
      }
    }))
  })
}

/** Waits until `page` sees the others named, each with moving video and audible sound. */
export async function seesAndHears(page: Page, others: readonly string[], timeoutMs = 45_000): Promise<Array<{name: string; frames: number; width: number; audioRms: number}>> {
  let before = new Map<string, number>()
  let last: Awaited<ReturnType<typeof received>> = []
  try {
    return await waitFor(`${others.join(', ')} seen and heard`, async () => {
      last = await received(page)
      const names = last.map((r) => r.name).sort()
      const moving = last.every((r) => r.width > 0 && r.frames > (before.get(r.name) ?? Infinity) && r.audioRms > 0.01)
      before = new Map(last.map((r) => [r.name, r.frames]))
      return names.join() === [...others].sort().join() && moving ? last : undefined
    }, {timeoutMs, intervalMs: 500})
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last)}; state ${JSON.stringify(await callState(page))}`, {cause: error})
  }
}


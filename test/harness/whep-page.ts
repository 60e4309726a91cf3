/**
 * A WHEP player in a Chromium page: recvonly audio and video, the offer POSTed, the answer applied,
 * what arrives shown in a <video>. The page keeps its connection as window.whep. What a page
 * decodes is read from WebRTC's own statistics.
 */
import type {Page} from 'playwright-core'

export interface Played {
  status: number
  text: string
  location?: string | null
  link?: string | null
  contentType?: string | null
}

export async function playFrom(page: Page, url: string, options: {audio?: boolean} = {}): Promise<Played> {
  return page.evaluate(
    async ({url, audio}) => {
      const pc = new RTCPeerConnection()
      pc.addTransceiver('video', {direction: 'recvonly'})
      if (audio) pc.addTransceiver('audio', {direction: 'recvonly'})
      const video = document.createElement('video')
      video.muted = true
      video.autoplay = true
      video.playsInline = true
      document.body.append(video)
      const stream = new MediaStream()
      pc.addEventListener('track', (event) => {
        stream.addTrack(event.track)
        video.srcObject = stream
      })
      await pc.setLocalDescription(await pc.createOffer())
      const response = await fetch(url, {method: 'POST', headers: {'content-type': 'application/sdp'}, body: pc.localDescription!.sdp})
      const text = await response.text()
      const location = response.headers.get('location')
      if (response.status === 201) {
        await pc.setRemoteDescription({type: 'answer', sdp: text})
        ;(window as unknown as {whep: {pc: RTCPeerConnection; location: string | null; video: HTMLVideoElement}}).whep = {pc, location, video}
      } else {
        pc.close()
        video.remove()
      }
      return {status: response.status, text, location, link: response.headers.get('link'), contentType: response.headers.get('content-type')}
    },
    {url, audio: options.audio ?? true},
  )
}

export interface Received {
  connection: string
  /** Video frames decoded so far, and their size. */
  framesDecoded: number
  width: number
  height: number
  /** Audio packets received so far, and the loudest sound heard over half a second (RMS, 0 for silence). */
  audioPackets: number
  audioRms: number
  /** Seconds of delay the jitter buffer holds (video). */
  jitterBufferSeconds: number
}

export const received = (page: Page): Promise<Received> =>
  page.evaluate(async () => {
    const {pc, video} = (window as unknown as {whep: {pc: RTCPeerConnection; video: HTMLVideoElement}}).whep
    const out = {connection: pc.connectionState, framesDecoded: 0, width: 0, height: 0, audioPackets: 0, audioRms: 0, jitterBufferSeconds: 0}
    for (const report of (await pc.getStats()).values()) {
      if (report.type !== 'inbound-rtp') continue
      if (report.kind === 'video') {
        out.framesDecoded = report.framesDecoded ?? 0
        out.width = report.frameWidth ?? 0
        out.height = report.frameHeight ?? 0
        out.jitterBufferSeconds = (report.jitterBufferEmittedCount ?? 0) > 0 ? report.jitterBufferDelay / report.jitterBufferEmittedCount : 0
      } else if (report.kind === 'audio') out.audioPackets = report.packetsReceived ?? 0
    }
    // What the page hears, through Web Audio (the stream also plays in the <video>, muted).
    const stream = video.srcObject as MediaStream | null
    if (stream !== null && stream.getAudioTracks().length > 0) {
      const context = new AudioContext()
      await context.resume()
      const analyser = context.createAnalyser()
      context.createMediaStreamSource(new MediaStream(stream.getAudioTracks())).connect(analyser)
      const samples = new Float32Array(analyser.fftSize)
      for (let i = 0; i < 10; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        analyser.getFloatTimeDomainData(samples)
        out.audioRms = Math.max(out.audioRms, Math.sqrt(samples.reduce((sum, v) => sum + v * v, 0) / samples.length))
      }
      await context.close()
    }
    return out
  })

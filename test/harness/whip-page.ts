/**
 * A WHIP encoder in a Chromium page (a fake camera and microphone): what OBS's WHIP output does,
 * from the page's origin. The page keeps its connection as window.whip.
 */
import type {Page} from 'playwright-core'

export interface Published {
  status: number
  text: string
  location?: string | null
  link?: string | null
  contentType?: string | null
}

/**
 * What an encoder does: its camera and microphone on a sendonly connection, the offer POSTed with
 * the key, the answer applied. `mangle` changes the offer before it goes (a codec the server lacks, or VP8 only).
 */
export async function publishFrom(page: Page, url: string, streamKey: string | undefined, mangle?: 'no-usable-video' | 'vp8-only'): Promise<Published> {
  return page.evaluate(
    async ({url, streamKey, mangle}) => {
      const media = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360}, audio: true})
      const pc = new RTCPeerConnection()
      for (const track of media.getTracks()) {
        const transceiver = pc.addTransceiver(track, {direction: 'sendonly', streams: [media]})
        // A browser that sends no H.264 (the server then encodes its VP8).
        if (mangle === 'vp8-only' && track.kind === 'video') {
          const codecs = RTCRtpSender.getCapabilities('video')?.codecs ?? []
          transceiver.setCodecPreferences(codecs.filter((c) => c.mimeType === 'video/VP8'))
        }
      }
      await pc.setLocalDescription(await pc.createOffer())
      let sdp = pc.localDescription!.sdp
      // Every video codec renamed to one nobody has: the server must say which codec to use.
      if (mangle === 'no-usable-video') sdp = sdp.replace(/(a=rtpmap:\d+ )(VP8|VP9|H264|AV1|H265)\//g, '$1XV$2/')
      const response = await fetch(url, {
        method: 'POST',
        headers: {'content-type': 'application/sdp', ...(streamKey === undefined ? {} : {authorization: `Bearer ${streamKey}`})},
        body: sdp,
      })
      const text = await response.text()
      const location = response.headers.get('location')
      if (response.status === 201) {
        await pc.setRemoteDescription({type: 'answer', sdp: text})
        ;(window as unknown as {whip: {pc: RTCPeerConnection; location: string | null}}).whip = {pc, location}
      } else {
        pc.close()
        for (const track of media.getTracks()) track.stop()
      }
      return {status: response.status, text, location, link: response.headers.get('link'), contentType: response.headers.get('content-type')}
    },
    {url, streamKey, mangle},
  )
}
export const connectionState = (page: Page): Promise<string> => page.evaluate(() => (window as unknown as {whip: {pc: RTCPeerConnection}}).whip.pc.connectionState)


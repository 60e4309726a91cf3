import {readFileSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'

import {canConnect, freePort, HarnessError, startProcess, tempDir, waitFor, type ManagedProcess} from './process.js'
import {commandOutput, requireTool} from './tools.js'

/** node-media-server 4: RTMP ingest and HTTP-FLV playback on 127.0.0.1. */
export interface MediaServer {
  /** e.g. `node-media-server 4.4.3` */
  readonly version: string
  readonly rtmpPort: number
  readonly httpPort: number
  rtmpUrl(app: string, key: string): string
  flvUrl(app: string, key: string): string
  /** Resolves once the server has accepted a publisher on app/key. */
  waitForPublish(app: string, key: string, timeoutMs?: number): Promise<void>
  output(): string
  stop(): Promise<void>
}

const resolveFromHere = createRequire(import.meta.url).resolve

/**
 * Runs the package's own CLI (bin/app.js) as a child process, so it stops by PID like every other
 * part. Without `auth` in its config it has no REST API, writes nothing back to the config and
 * needs no secrets; the webadmin is off; its store and recordings stay in a temp dir.
 */
export async function startMediaServer(): Promise<MediaServer> {
  const packageJson = resolveFromHere('node-media-server/package.json')
  const {version} = JSON.parse(readFileSync(packageJson, 'utf8')) as {version: string}
  const [rtmpPort, httpPort] = [await freePort(), await freePort()]
  const data = await tempDir('nms')
  try {
    const config = path.join(data.dir, 'config.json')
    await writeFile(config, JSON.stringify({
      bind: '127.0.0.1',
      rtmp: {port: rtmpPort},
      http: {port: httpPort},
      store: {path: path.join(data.dir, 'store')},
      record: {auto: false, path: path.join(data.dir, 'record')},
      notify: {url: ''},
      webadmin: {enable: false},
    }))
    const server = await startProcess({
      name: 'node-media-server',
      command: process.execPath,
      args: [path.join(path.dirname(packageJson), 'bin', 'app.js'), '--config', config],
      ready: {probe: async () => (await canConnect('127.0.0.1', rtmpPort)) && canConnect('127.0.0.1', httpPort)},
    })
    return {
      version: `node-media-server ${version}`,
      rtmpPort,
      httpPort,
      rtmpUrl: (app, key) => `rtmp://127.0.0.1:${rtmpPort}/${app}/${key}`,
      flvUrl: (app, key) => `http://127.0.0.1:${httpPort}/${app}/${key}.flv`,
      // It logs `RTMP session <id> <ip> start push /<app>/<key>` and offers no other event.
      waitForPublish: async (app, key, timeoutMs = 15_000) => {
        await waitFor(`a publisher on /${app}/${key}`, async () => server.output().includes(`start push /${app}/${key}`), {timeoutMs})
      },
      output: () => server.output(),
      stop: async () => {
        await server.stop()
        await data.remove()
      },
    }
  } catch (error) {
    await data.remove()
    throw error
  }
}

export interface PublishOptions {
  /** rtmp://… */
  url: string
  /** Stops by itself after this long; runs until stop() when left out. */
  durationSec?: number
  /** WxH, 1280x720 by default. */
  size?: string
  fps?: number
  /** Publish from inside this network namespace (a test box). */
  netns?: string
  /** false: an audio-only source (a radio, a podcast). */
  video?: false | {codec?: 'libx264' | 'flv1'; gopSeconds?: number; bFrames?: number; kbps?: number}
  /** false: a video-only source. */
  audio?: false | {codec?: 'aac' | 'libmp3lame' | 'nellymoser'}
}

/**
 * ffmpeg publishing like OBS does: realtime x264 (2 s GOP, no scene cuts) + AAC over RTMP.
 * Ready once ffmpeg reports encoded frames, which it does only after the RTMP handshake.
 */
export async function publishTestStream({url, durationSec, size = '1280x720', fps = 30, netns, video = {}, audio = {}}: PublishOptions): Promise<ManagedProcess> {
  const gop = String(Math.round(fps * (video === false ? 2 : (video.gopSeconds ?? 2))))
  const videoArgs =
    video === false
      ? []
      : video.codec === 'flv1'
        ? ['-c:v', 'flv1', '-b:v', '1000k', '-g', gop]
        : [
            '-c:v', 'libx264', '-preset', 'veryfast', ...(video.bFrames ? ['-bf', String(video.bFrames)] : ['-tune', 'zerolatency']),
            '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
            '-b:v', `${video.kbps ?? 3000}k`, '-pix_fmt', 'yuv420p',
          ]
  const audioArgs =
    audio === false
      ? []
      : audio.codec === 'nellymoser'
        ? ['-c:a', 'nellymoser', '-ar', '44100', '-ac', '1']
        : ['-c:a', audio.codec ?? 'aac', '-b:a', '128k', '-ar', audio.codec === 'libmp3lame' ? '44100' : '48000']
  // Inside a test box's network namespace when asked: `ip netns exec` execs ffmpeg (same PID).
  const command = netns === undefined ? [requireTool('ffmpeg')] : ['ip', 'netns', 'exec', netns, requireTool('ffmpeg')]
  return startProcess({
    name: 'ffmpeg-publisher',
    command: command[0] ?? 'ffmpeg',
    args: [
      ...command.slice(1),
      '-hide_banner', '-nostdin', '-loglevel', 'warning', '-stats',
      ...(video === false ? [] : ['-re', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}`]),
      ...(audio === false ? [] : ['-re', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000']),
      ...(durationSec === undefined ? [] : ['-t', String(durationSec)]),
      ...videoArgs,
      ...audioArgs,
      '-f', 'flv', url,
    ],
    // Encoding stats start once the RTMP publish is answered (frame= with video, size= without).
    ready: {log: video === false ? /size=\s*\d+/ : /frame=\s*\d+/},
    timeoutMs: 20_000,
  })
}

/** e.g. `ffmpeg 5.1.9-0+deb12u1` */
export async function ffmpegVersion(): Promise<string> {
  const said = await commandOutput(requireTool('ffmpeg'), ['-version'])
  return `ffmpeg ${/ffmpeg version (\S+)/.exec(said)?.[1] ?? said.split('\n')[0] ?? 'unknown'}`
}

/**
 * Publishes as OBS does: it asks for a server first (`hasRoom`, e.g. the assignment API), and
 * while the ingest says it has no room (it measures the box's CPU; on a 2-core test box Chromium
 * and the components take their share) it tries again a little later. The ingest is right to
 * refuse while it measures no room; a test that needs a broadcast waits for one, as a streamer would.
 */
export async function publishWhenThereIsRoom(options: PublishOptions & {hasRoom?: () => Promise<boolean>; timeoutMs?: number}): Promise<ManagedProcess> {
  const {hasRoom, timeoutMs = 90_000, ...publish} = options
  let refusals = 0
  return waitFor('an ingest with room for the broadcast', async () => {
    if (hasRoom !== undefined && !(await hasRoom())) return undefined
    try {
      return await publishTestStream(publish)
    } catch (error) {
      if (!(error instanceof HarnessError) || !error.message.includes('no room for another broadcast')) throw error
      refusals += 1
      process.stderr.write(`publish: the ingest had no room (refusal ${refusals}); trying again\n`)
      return undefined
    }
  }, {timeoutMs, intervalMs: 2000})
}

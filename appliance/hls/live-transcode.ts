import {spawn, type ChildProcess} from 'node:child_process'
import {EventEmitter, once} from 'node:events'
import type {Readable} from 'node:stream'

import {Fmp4Reader} from './fmp4.js'
import type {Rendition} from '../contract/index.js'
import {ladderArgs, type LadderProfile, type LadderTracks, type RealtimeOutput} from './ladder.js'
import {LlHlsPackager, packagerRenditions} from './llhls.js'

export interface LiveTranscodeOptions {
  profile: LadderProfile
  /** What ffmpeg reads: rtmp://127.0.0.1:<port>/live/<key> at the ingest. */
  input: string
  /** Arguments before `-i` besides the profile's (tests: `-re -f lavfi`). */
  inputArgs?: string[]
  /** The source's tracks (default: video and audio). */
  tracks?: LadderTracks
  /** The rungs to encode (default: all the tracks allow). */
  rungs?: Rendition[]
  /** Real-time playback: the top rung's video and the audio also as RTP (ladder.ts). */
  realtime?: RealtimeOutput
  /**
   * Packages into this packager instead of a new one (the ladder restarted without a rung); it
   * is then not ended when ffmpeg exits: the caller owns it.
   */
  packager?: LlHlsPackager
  ffmpegPath?: string
  /** Complete segments each rendition keeps in memory. */
  windowSegments?: number
  firstMediaSequence?: number
  /** SIGINT → ffmpeg writes its last fragments; after this long it gets SIGKILL. */
  stopTimeoutMs?: number
}

/** ffmpeg's -progress figures, refreshed every second. */
export interface TranscodeProgress {
  /** Media seconds produced per wall second; < 1 means the box cannot keep up. */
  speed: number
  frame: number
  /** Media time written, seconds. */
  outTime: number
}

export class TranscodeError extends Error {
  override name = 'TranscodeError'
}

type LiveTranscodeEvents = {
  progress: [TranscodeProgress]
  /** ffmpeg died or wrote something we cannot read; 'end' still follows. */
  error: [Error]
  /** ffmpeg has exited and the packager has ended (playlists carry #EXT-X-ENDLIST). */
  end: [{code: number | null; signal: NodeJS.Signals | null}]
}

const tail = (s: string, n = 4000): string => (s.length > n ? s.slice(-n) : s)

/**
 * One live stream's ffmpeg ladder, each rendition's fragmented MP4 read from its own pipe
 * (fd 3, 4, …) into one LlHlsPackager.
 */
export class LiveTranscode extends EventEmitter<LiveTranscodeEvents> {
  readonly packager: LlHlsPackager
  readonly args: string[]
  /** What this ffmpeg encodes, highest first. */
  readonly rungs: Rendition[]
  private readonly child: ChildProcess
  private stderr = ''
  private stopping = false
  private lastProgress: TranscodeProgress | undefined
  private failure: Error | undefined
  private readonly finished: Promise<void>

  constructor(private readonly options: LiveTranscodeOptions) {
    super()
    const {profile} = options
    const command = ladderArgs({
      profile,
      input: options.input,
      ...(options.inputArgs ? {inputArgs: options.inputArgs} : {}),
      ...(options.tracks ? {tracks: options.tracks} : {}),
      ...(options.rungs ? {rungs: options.rungs} : {}),
      ...(options.realtime ? {realtime: options.realtime} : {}),
    })
    this.args = command.args
    this.rungs = command.outputs.map((o) => o.rendition)
    const ownsPackager = options.packager === undefined
    const packager =
      options.packager ??
      new LlHlsPackager({
        renditions: packagerRenditions(this.rungs),
        segmentSeconds: profile.hls.segmentSeconds,
        partSeconds: profile.hls.partSeconds,
        windowSegments: options.windowSegments,
        firstMediaSequence: options.firstMediaSequence,
      })
    this.packager = packager
    const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe', ...command.outputs.map(() => 'pipe' as const)]
    this.child = spawn(options.ffmpegPath ?? 'ffmpeg', command.args, {stdio})

    const spawned = new Promise<void>((resolve) => {
      this.child.once('spawn', resolve)
      this.child.once('error', (error) => {
        this.fail(new TranscodeError(`ffmpeg (${options.ffmpegPath ?? 'ffmpeg'}) could not start: ${error.message}`))
        resolve()
      })
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = tail(this.stderr + chunk.toString(), 16_000)
    })
    this.readProgress(this.child.stdout!)

    const pipesDone = command.outputs.map(({rendition, fd}) => {
      const pipe = this.child.stdio[fd] as Readable
      const reader = new Fmp4Reader()
      reader.on('init', (init) => packager.setInit(rendition.name, init))
      reader.on('fragment', (fragment) => packager.pushFragment(rendition.name, fragment))
      pipe.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk)
        } catch (error) {
          this.fail(new TranscodeError(`rendition ${rendition.name}: ${(error as Error).message}`))
          pipe.destroy()
        }
      })
      return new Promise<void>((resolve) => pipe.once('close', resolve))
    })

    const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => {
      this.child.once('close', (code, signal) => resolve({code, signal}))
      this.child.once('error', () => resolve({code: null, signal: null}))
    })
    this.finished = (async () => {
      await spawned
      const [{code, signal}] = await Promise.all([exited, Promise.all(pipesDone)])
      // ffmpeg ends with 0 when the publisher goes away; with 255 after our SIGINT.
      const clean = code === 0 || (this.stopping && (code === 255 || signal !== null))
      if (!clean) this.fail(new TranscodeError(`ffmpeg exited with ${signal ?? code}\n--- its output ---\n${tail(this.stderr)}`))
      if (ownsPackager) packager.end()
      this.emit('end', {code, signal})
    })()
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** The latest -progress figures. */
  get progress(): TranscodeProgress | undefined {
    return this.lastProgress
  }

  /** What ffmpeg has said on stderr (warnings and errors), the last 16 kB. */
  get log(): string {
    return this.stderr
  }

  private fail(error: Error): void {
    this.failure ??= error
    // An EventEmitter 'error' with no listener would throw out of a stream callback.
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }

  /** The first error (ffmpeg died, unreadable output), if any. */
  get error(): Error | undefined {
    return this.failure
  }

  private readProgress(stdout: Readable): void {
    let buffered = ''
    let block: Record<string, string> = {}
    stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const eq = line.indexOf('=')
        if (eq < 0) continue
        const key = line.slice(0, eq).trim()
        block[key] = line.slice(eq + 1).trim()
        // Every block ends with progress=continue|end.
        if (key === 'progress') {
          const speed = Number.parseFloat(block.speed ?? '')
          this.lastProgress = {
            speed: Number.isFinite(speed) ? speed : 0,
            frame: Number(block.frame ?? 0),
            outTime: Number(block.out_time_us ?? 0) / 1e6,
          }
          this.emit('progress', this.lastProgress)
          block = {}
        }
      }
    })
  }

  /** Resolves once ffmpeg has exited and the packager has ended. */
  done(): Promise<void> {
    return this.finished
  }

  /** SIGINT: ffmpeg flushes its last fragments and exits; SIGKILL after stopTimeoutMs. */
  async stop(): Promise<void> {
    this.stopping = true
    const {child} = this
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exit = once(child, 'exit')
      child.kill('SIGINT')
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }, this.options.stopTimeoutMs ?? 5000)
      await exit
      clearTimeout(timer)
    }
    await this.finished
  }
}

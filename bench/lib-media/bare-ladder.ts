/**
 * The baseline of bench:ingest: the very ffmpeg command LiveTranscode runs (ladderArgs, same
 * argv), with each rendition's pipe fd opened on /dev/null instead of read into the packager.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {EventEmitter, once} from 'node:events'
import {closeSync, openSync} from 'node:fs'

import {ladderArgs, type LadderProfile} from '../../appliance/hls/ladder.js'

export interface ProgressSample {
  /** performance.now() when the report arrived. */
  at: number
  /** Media seconds written so far. */
  outTime: number
}

type BareLadderEvents = {progress: [ProgressSample]}

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
})

export class BareLadder extends EventEmitter<BareLadderEvents> {
  readonly args: string[]
  private readonly child: ChildProcess
  private stderr = ''
  private readonly exited: Promise<void>

  constructor(options: {profile: LadderProfile; input: string; ffmpegPath: string; inputArgs?: string[]}) {
    super()
    const command = ladderArgs({profile: options.profile, input: options.input, ...(options.inputArgs === undefined ? {} : {inputArgs: options.inputArgs})})
    this.args = command.args
    const devNull = openSync('/dev/null', 'w')
    try {
      this.child = spawn(options.ffmpegPath, command.args, {stdio: ['ignore', 'pipe', 'pipe', ...command.outputs.map(() => devNull)]})
    } finally {
      // The child holds its own copies.
      closeSync(devNull)
    }
    running.add(this.child)
    this.exited = once(this.child, 'close').then(() => {
      running.delete(this.child)
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000)
    })
    let buffered = ''
    // -progress blocks end with progress=…; out_time_us comes before it in each block.
    let outTime: number | undefined
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        if (line.startsWith('out_time_us=')) outTime = Number(line.slice('out_time_us='.length)) / 1e6
        else if (line.startsWith('progress=') && outTime !== undefined && Number.isFinite(outTime)) this.emit('progress', {at: performance.now(), outTime})
      }
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get log(): string {
    return this.stderr
  }

  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  /** SIGINT, as LiveTranscode does; SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (!this.hasExited && this.child.pid !== undefined) {
      this.child.kill('SIGINT')
      const timer = setTimeout(() => {
        if (!this.hasExited) this.child.kill('SIGKILL')
      }, 5000)
      await this.exited
      clearTimeout(timer)
    }
    await this.exited
  }
}

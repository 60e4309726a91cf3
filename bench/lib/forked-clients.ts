/**
 * Load clients as child processes (node + tsx, with an IPC channel), for benchmarks whose clients
 * one event loop cannot drive: each is forked here, answers commands with typed events, and is
 * stopped by its PID, also when the benchmark dies.
 */
import {fork, type ChildProcess} from 'node:child_process'

import {repoRoot} from '../../test/harness/cli.js'

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
})

/** A forked client: commands go out, events (`{type}`) come back; a `failed` event says why it stopped. */
export class ForkedClient<Command extends {type: string}, Event extends {type: string; message?: string}> {
  readonly child: ChildProcess
  private readonly waiting = new Map<Event['type'], ((event: Event) => void)[]>()
  private failure: string | undefined

  constructor(
    file: string,
    private readonly label: string,
  ) {
    this.child = fork(file, [], {cwd: repoRoot, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    running.add(this.child)
    this.child.once('exit', (code, signal) => {
      running.delete(this.child)
      this.failure ??= `${label} exited with ${signal ?? code}`
    })
    this.child.on('message', (event: Event) => {
      if (event.type === 'failed') this.failure = event.message
      this.waiting.get(event.type)?.shift()?.(event)
    })
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.label} has no PID`)
    return this.child.pid
  }

  send(command: Command): void {
    this.child.send(command)
  }

  /** The next event of this type. */
  next<T extends Event['type']>(type: T, timeoutMs: number): Promise<Extract<Event, {type: T}>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label} ${this.child.pid}: no ${type} within ${timeoutMs} ms${this.failure === undefined ? '' : ` (${this.failure})`}`)), timeoutMs)
      const queue = this.waiting.get(type) ?? []
      queue.push((event) => {
        clearTimeout(timer)
        resolve(event as Extract<Event, {type: T}>)
      })
      this.waiting.set(type, queue)
    })
  }

  /** Sends a command and waits for its answer. */
  ask<T extends Event['type']>(command: Command, answer: T, timeoutMs: number): Promise<Extract<Event, {type: T}>> {
    const answered = this.next(answer, timeoutMs)
    this.send(command)
    return answered
  }

  /** Asks it to stop (`{type: 'stop'}`), and kills it after 5 s if it has not. */
  async stop(stop: Command): Promise<void> {
    const child = this.child
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    if (child.connected) child.send(stop)
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
    }, 5000)
    await exited
    clearTimeout(timer)
  }
}

/** How many of `total` the i-th of `parts` takes (the first ones one more, when it does not divide). */
export const shareOf = (total: number, parts: number, i: number): number => Math.floor(total / parts) + (i < total % parts ? 1 : 0)

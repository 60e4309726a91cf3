/**
 * The orchestrator's side of the load clients: forks them (node + tsx, with an IPC channel), splits
 * the viewers between them, and asks them for their counts. Each client is stopped by its PID,
 * also when the benchmark dies.
 */
import {fork, type ChildProcess} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {repoRoot} from '../../test/harness/cli.js'
import type {ClientCommand, ClientEvent, ViewerMode} from './relay-load-protocol.js'

const clientFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'relay-load-client.ts')

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
})

type Answer<T extends ClientEvent['type']> = Extract<ClientEvent, {type: T}>

class Client {
  private readonly waiting = new Map<ClientEvent['type'], ((event: ClientEvent) => void)[]>()
  private failure: string | undefined

  constructor(
    readonly child: ChildProcess,
    readonly viewers: number,
  ) {
    child.on('message', (event: ClientEvent) => {
      if (event.type === 'failed') this.failure = event.message
      const queue = this.waiting.get(event.type)
      queue?.shift()?.(event)
    })
    child.once('exit', (code, signal) => {
      this.failure ??= `load client exited with ${signal ?? code}`
    })
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('load client has no PID')
    return this.child.pid
  }

  next<T extends ClientEvent['type']>(type: T, timeoutMs: number): Promise<Answer<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load client ${this.pid}: no ${type} within ${timeoutMs} ms${this.failure === undefined ? '' : ` (${this.failure})`}`)), timeoutMs)
      const queue = this.waiting.get(type) ?? []
      queue.push((event) => {
        clearTimeout(timer)
        resolve(event as Answer<T>)
      })
      this.waiting.set(type, queue)
    })
  }

  send(command: ClientCommand): void {
    this.child.send(command)
  }
}

export interface LoadOptions {
  mode: ViewerMode
  url: string
  viewers: number
  processes: number
  /** Viewers join spread over this long. */
  rampMs: number
}

export class LoadClients {
  private constructor(private readonly clients: Client[]) {}

  static start(options: LoadOptions): LoadClients {
    const processes = Math.max(1, Math.min(options.processes, options.viewers))
    const clients: Client[] = []
    let firstViewer = 0
    for (let i = 0; i < processes; i++) {
      const viewers = Math.floor(options.viewers / processes) + (i < options.viewers % processes ? 1 : 0)
      const child = fork(clientFile, [], {cwd: repoRoot, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
      running.add(child)
      child.once('exit', () => running.delete(child))
      const client = new Client(child, viewers)
      client.send({type: 'start', mode: options.mode, url: options.url, viewers, firstViewer, rampMs: options.rampMs})
      clients.push(client)
      firstViewer += viewers
    }
    return new LoadClients(clients)
  }

  get pids(): number[] {
    return this.clients.map((c) => c.pid)
  }

  /** Resolves once every viewer received its first bytes. */
  async ready(timeoutMs: number): Promise<void> {
    await Promise.all(this.clients.map((c) => c.next('ready', timeoutMs)))
  }

  /** Each viewer's body bytes so far, in viewer order, and the failed requests so far. */
  async snapshot(): Promise<{bytes: number[]; failures: number}> {
    const answers = await Promise.all(this.clients.map((c) => {
      const answer = c.next('snapshot', 10_000)
      c.send({type: 'snapshot'})
      return answer
    }))
    return {bytes: answers.flatMap((a) => a.bytes), failures: answers.reduce((sum, a) => sum + a.failures, 0)}
  }

  /** Per viewer and segment (row-major): bytes received and when complete (-1: not complete). */
  async report(segments: number[]): Promise<{bytes: number[]; doneAt: number[]; failures: number}> {
    const answers = await Promise.all(this.clients.map((c) => {
      const answer = c.next('report', 30_000)
      c.send({type: 'report', segments})
      return answer
    }))
    return {bytes: answers.flatMap((a) => a.bytes), doneAt: answers.flatMap((a) => a.doneAt), failures: answers.reduce((sum, a) => sum + a.failures, 0)}
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map(async ({child}) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      if (child.connected) child.send({type: 'stop'})
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
      }, 5000)
      await exited
      clearTimeout(timer)
    }))
  }
}

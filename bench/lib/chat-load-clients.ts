/**
 * The orchestrator's side of the chat load clients: forks them (node + tsx, with an IPC channel),
 * splits the readers between them, and merges their tallies. Each client is stopped by its PID,
 * also when the benchmark dies.
 */
import {fork, type ChildProcess} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {repoRoot} from '../../test/harness/cli.js'
import type {ChatClientCommand, ChatClientEvent, StepTally} from './chat-load-protocol.js'

const clientFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'chat-load-client.ts')

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
})

type Answer<T extends ChatClientEvent['type']> = Extract<ChatClientEvent, {type: T}>

class Client {
  private readonly waiting = new Map<ChatClientEvent['type'], ((event: ChatClientEvent) => void)[]>()
  private failure: string | undefined

  constructor(readonly child: ChildProcess) {
    child.on('message', (event: ChatClientEvent) => {
      if (event.type === 'failed') this.failure = event.message
      this.waiting.get(event.type)?.shift()?.(event)
    })
    child.once('exit', (code, signal) => {
      this.failure ??= `chat load client exited with ${signal ?? code}`
    })
  }

  ask<T extends ChatClientEvent['type']>(command: ChatClientCommand, answer: T, timeoutMs: number): Promise<Answer<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chat load client ${this.child.pid}: no ${answer} within ${timeoutMs} ms${this.failure === undefined ? '' : ` (${this.failure})`}`)), timeoutMs)
      const queue = this.waiting.get(answer) ?? []
      queue.push((event) => {
        clearTimeout(timer)
        resolve(event as Answer<T>)
      })
      this.waiting.set(answer, queue)
      this.child.send(command)
    })
  }
}

export interface ChatLoadOptions {
  /** Socket.IO base URLs; reader i connects to targets[i % targets.length]. */
  targets: string[]
  readers: number
  channel: string
  processes: number
  /** Connections opened at once, per process. */
  concurrency: number
}

export class ChatLoadClients {
  private constructor(private readonly clients: Client[]) {}

  /** Forks the clients and connects every reader; rejects when any could not connect. */
  static async start(options: ChatLoadOptions): Promise<ChatLoadClients> {
    const processes = Math.max(1, Math.min(options.processes, options.readers))
    const clients = Array.from({length: processes}, () => {
      const child = fork(clientFile, [], {cwd: repoRoot, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
      running.add(child)
      child.once('exit', () => running.delete(child))
      return new Client(child)
    })
    const load = new ChatLoadClients(clients)
    try {
      let firstReader = 0
      const answers = await Promise.all(clients.map((client, i) => {
        const sockets = Math.floor(options.readers / processes) + (i < options.readers % processes ? 1 : 0)
        const command: ChatClientCommand = {type: 'connect', targets: options.targets, firstReader, sockets, channel: options.channel, concurrency: options.concurrency}
        firstReader += sockets
        return client.ask(command, 'connected', 300_000)
      }))
      const failed = answers.reduce((sum, a) => sum + a.failed, 0)
      if (failed > 0) throw new Error(`${failed} of ${options.readers} readers could not connect (first: ${answers.find((a) => a.firstError !== undefined)?.firstError})`)
    } catch (error) {
      await load.stop()
      throw error
    }
    return load
  }

  get pids(): number[] {
    return this.clients.flatMap((c) => (c.child.pid === undefined ? [] : [c.child.pid]))
  }

  window(step: number, from: number, to: number): void {
    for (const client of this.clients) client.child.send({type: 'window', step, from, to} satisfies ChatClientCommand)
  }

  /** The step's tallies of every reader, merged; and the readers that lost their connection so far. */
  async report(step: number): Promise<StepTally & {disconnects: number}> {
    const answers = await Promise.all(this.clients.map((c) => c.ask({type: 'report', step}, 'report', 30_000)))
    return {
      received: answers.reduce((sum, a) => sum + a.tally.received, 0),
      inWindow: answers.reduce((sum, a) => sum + a.tally.inWindow, 0),
      latency: answers.flatMap((a) => a.tally.latency),
      disconnects: answers.reduce((sum, a) => sum + a.disconnects, 0),
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map(async ({child}) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      if (child.connected) child.send({type: 'stop'} satisfies ChatClientCommand)
      const timer = setTimeout(() => {
        if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
      }, 5000)
      await exited
      clearTimeout(timer)
    }))
  }
}

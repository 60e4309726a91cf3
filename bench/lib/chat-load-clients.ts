/**
 * The orchestrator's side of the chat load clients: forks them (node + tsx, with an IPC channel),
 * splits the readers between them, and merges their tallies. Each client is stopped by its PID,
 * also when the benchmark dies.
 */
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {ChatClientCommand, ChatClientEvent, StepTally} from './chat-load-protocol.js'
import {ForkedClient, shareOf} from './forked-clients.js'

const clientFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'chat-load-client.ts')
type Client = ForkedClient<ChatClientCommand, ChatClientEvent>

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
    const clients: Client[] = Array.from({length: processes}, () => new ForkedClient(clientFile, 'chat load client'))
    const load = new ChatLoadClients(clients)
    try {
      let firstReader = 0
      const answers = await Promise.all(clients.map((client, i) => {
        const sockets = shareOf(options.readers, processes, i)
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
    return this.clients.map((c) => c.pid)
  }

  window(step: number, from: number, to: number): void {
    for (const client of this.clients) client.send({type: 'window', step, from, to})
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
    await Promise.all(this.clients.map((c) => c.stop({type: 'stop'})))
  }
}

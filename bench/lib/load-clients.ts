/**
 * The orchestrator's side of the load clients: forks them (node + tsx, with an IPC channel), splits
 * the viewers between them, and asks them for their counts. Each client is stopped by its PID,
 * also when the benchmark dies.
 */
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {ForkedClient, shareOf} from './forked-clients.js'
import type {ClientCommand, ClientEvent, ViewerMode} from './relay-load-protocol.js'

const clientFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'relay-load-client.ts')
type Client = ForkedClient<ClientCommand, ClientEvent>

export interface LoadOptions {
  mode: ViewerMode
  url: string
  /** Connect here instead of the URL's host (which still goes in Host and SNI). */
  connectTo?: string
  viewers: number
  processes: number
  /** Viewers join spread over this long. */
  rampMs: number
}

export type ViewerReport = Omit<Extract<ClientEvent, {type: 'report'}>, 'type'>

export class LoadClients {
  private constructor(private readonly clients: Client[]) {}

  static start(options: LoadOptions): LoadClients {
    const processes = Math.max(1, Math.min(options.processes, options.viewers))
    const clients: Client[] = []
    let firstViewer = 0
    for (let i = 0; i < processes; i++) {
      const viewers = shareOf(options.viewers, processes, i)
      const client: Client = new ForkedClient(clientFile, 'load client')
      client.send({type: 'start', mode: options.mode, url: options.url, ...(options.connectTo === undefined ? {} : {connectTo: options.connectTo}), viewers, firstViewer, rampMs: options.rampMs})
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
    const answers = await Promise.all(this.clients.map((c) => c.ask({type: 'snapshot'}, 'snapshot', 10_000)))
    return {bytes: answers.flatMap((a) => a.bytes), failures: answers.reduce((sum, a) => sum + a.failures, 0)}
  }

  /**
   * Row-major per viewer: of each segment the bytes received and when complete, of each part
   * ([msn, part]) when complete (-1: not complete).
   */
  async report(segments: number[], parts: [number, number][]): Promise<ViewerReport> {
    const answers = await Promise.all(this.clients.map((c) => c.ask({type: 'report', segments, parts}, 'report', 30_000)))
    return {
      bytes: answers.flatMap((a) => a.bytes),
      doneAt: answers.flatMap((a) => a.doneAt),
      partDoneAt: answers.flatMap((a) => a.partDoneAt),
      failures: answers.reduce((sum, a) => sum + a.failures, 0),
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.stop({type: 'stop'})))
  }
}

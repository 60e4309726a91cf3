/**
 * Messages between bench/chat.ts and its chat load clients (bench/lib/chat-load-client.ts, forked
 * with IPC), and the message text the writers send: `<step> <seq> <sent at, epoch ms>`, so every
 * receiver knows which step a message belongs to and how long it took.
 */

export type ChatClientCommand =
  /**
   * Open readers firstReader … firstReader + sockets - 1, reader r to targets[r % targets.length],
   * `concurrency` at a time; each is ready at its `welcome` (it is in the room then).
   */
  | {type: 'connect'; targets: string[]; firstReader: number; sockets: number; channel: string; concurrency: number}
  /** A step's measuring window (epoch ms, [from, to)): deliveries received in it are counted, latencies of messages sent in it kept. */
  | {type: 'window'; step: number; from: number; to: number}
  | {type: 'report'; step: number}
  | {type: 'stop'}

export type ChatClientEvent =
  | {type: 'connected'; sockets: number; failed: number; firstError?: string}
  | {type: 'report'; step: number; tally: StepTally; disconnects: number}
  | {type: 'failed'; message: string}

/** What one load client saw of one step's messages. */
export interface StepTally {
  /** Deliveries of the step's messages so far. */
  received: number
  /** Of those, received inside the window. */
  inWindow: number
  /** Latency (ms) of the messages sent inside the window: [ms, count] pairs, flattened. */
  latency: number[]
}

export const messageText = (step: number, seq: number, sentAt: number): string => `${step} ${seq} ${sentAt}`

export function parseMessageText(text: string): {step: number; sentAt: number} | undefined {
  const [step, , sentAt] = text.split(' ')
  const parsed = {step: Number(step), sentAt: Number(sentAt)}
  return Number.isInteger(parsed.step) && Number.isFinite(parsed.sentAt) ? parsed : undefined
}

/** Merged [ms, count] pairs → the latency at quantile q (0…1), in ms; NaN when there is none. */
export function latencyQuantile(pairs: number[], q: number): number {
  const counts = new Map<number, number>()
  for (let i = 0; i < pairs.length; i += 2) counts.set(pairs[i]!, (counts.get(pairs[i]!) ?? 0) + pairs[i + 1]!)
  const sorted = [...counts.entries()].sort((a, b) => a[0] - b[0])
  const total = sorted.reduce((sum, [, n]) => sum + n, 0)
  if (total === 0) return Number.NaN
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (const [ms, n] of sorted) {
    seen += n
    if (seen >= rank) return ms
  }
  return sorted.at(-1)![0]
}

/**
 * Writing a cached object to a viewer without letting a slow one pile data up in this process:
 * the body goes out in views of the cached Buffer (never copies), the next one only after the
 * socket drained, and a viewer that reads nothing for stallMs is cut off.
 * (node-media-server writes every packet whatever res.write returns; its memory grew to 1 GB.)
 */
import type {OutgoingHttpHeaders, ServerResponse} from 'node:http'

export interface SendOptions {
  /** Bytes handed to the socket per write. */
  chunkBytes: number
  /** A viewer whose socket does not drain for this long is disconnected. */
  stallMs: number
  /** Called with the bytes of each write, for the egress meter. */
  onBytes: (bytes: number) => void
}

export type SendOutcome = 'sent' | 'closed' | 'stalled'

/** The responses being written now: their buffered bytes and how many wait for 'drain'. */
export class SendTracker {
  private readonly active = new Set<ServerResponse>()
  private waiting = 0

  /** Bytes written to responses but not yet taken by the kernel (at most ~chunkBytes + highWaterMark each). */
  bufferedBytes(): number {
    let total = 0
    for (const res of this.active) total += res.writableLength
    return total
  }

  /** Sends held back until their viewer reads. */
  waitingForDrain(): number {
    return this.waiting
  }

  activeSends(): number {
    return this.active.size
  }

  /** Writes status, headers and body (none for HEAD) with backpressure. */
  async send(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer, head: boolean, options: SendOptions): Promise<SendOutcome> {
    res.writeHead(status, {...headers, 'content-length': body.length})
    if (head || body.length <= options.chunkBytes) {
      // One write of at most a chunk: bounded already, nothing to wait for.
      res.end(head ? undefined : body)
      if (!head) options.onBytes(body.length)
      return 'sent'
    }
    this.active.add(res)
    try {
      for (let offset = 0; offset < body.length; ) {
        if (res.destroyed) return 'closed'
        const end = Math.min(offset + options.chunkBytes, body.length)
        const flushed = res.write(body.subarray(offset, end))
        options.onBytes(end - offset)
        offset = end
        if (!flushed && offset < body.length) {
          this.waiting++
          const outcome = await drained(res, options.stallMs).finally(() => this.waiting--)
          if (outcome !== 'drain') {
            res.destroy()
            return outcome
          }
        }
      }
      res.end()
      return 'sent'
    } finally {
      this.active.delete(res)
    }
  }
}

function drained(res: ServerResponse, stallMs: number): Promise<'drain' | 'closed' | 'stalled'> {
  if (res.destroyed) return Promise.resolve('closed')
  return new Promise((resolve) => {
    const done = (outcome: 'drain' | 'closed' | 'stalled'): void => {
      clearTimeout(timer)
      res.off('drain', onDrain)
      res.off('close', onClose)
      resolve(outcome)
    }
    const onDrain = (): void => done('drain')
    const onClose = (): void => done('closed')
    const timer = setTimeout(() => done('stalled'), stallMs)
    res.on('drain', onDrain)
    res.on('close', onClose)
  })
}

/**
 * Reading nginx's access log as it grows (in the relay's cache folder): every request a viewer made,
 * with the bytes it got. The relay counts viewers and egress from it. The file is kept short:
 * past maxBytes it is unlinked and nginx told to reopen; what nginx wrote to the old file
 * before it switched is still read through the open descriptor.
 */
import {open, stat, unlink, type FileHandle} from 'node:fs/promises'

export interface AccessEntry {
  /** ms since epoch */
  at: number
  status: number
  bytes: number
  method: string
  path: string
  /** The viewer's address (see nginx.ts: the last X-Forwarded-For entry, else the peer). */
  client: string
  userAgent: string
  /** 'file' when nginx sent one of the relay's files; else the relay process's X-Cache (miss, joined, …). */
  source: string
}

/** Parses one line of nginx.ts's log format; undefined for anything else. */
export function parseAccessLine(line: string): AccessEntry | undefined {
  const fields = line.split('\t')
  if (fields.length !== 8) return undefined
  const [msec, status, bytes, method, path, client, userAgent, cache] = fields as [string, string, string, string, string, string, string, string]
  const at = Math.round(Number(msec) * 1000)
  if (!Number.isFinite(at) || !/^\d{3}$/.test(status) || !/^\d+$/.test(bytes)) return undefined
  return {at, status: Number(status), bytes: Number(bytes), method, path, client, userAgent: userAgent === '-' ? '' : userAgent, source: cache === '-' ? 'file' : cache}
}

export interface AccessLogTailOptions {
  file: string
  onEntries: (entries: AccessEntry[]) => void
  /** Asks nginx to reopen its log file. */
  reopen: () => void
  intervalMs?: number
  maxBytes?: number
}

const READ_BYTES = 256 * 1024

export class AccessLogTail {
  private handle: FileHandle | undefined
  private offset = 0
  private partial = ''
  /** The file was unlinked and nginx told to reopen it: finish this descriptor, then open the new one. */
  private rotating: 'no' | 'waiting' | 'last-read' = 'no'
  private timer: NodeJS.Timeout | undefined
  private reading: Promise<void> | undefined

  constructor(private readonly options: AccessLogTailOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.readNow(), this.options.intervalMs ?? 250)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.readNow()
    await this.handle?.close()
    this.handle = undefined
  }

  /** Reads what nginx has written since the last read (one read at a time). */
  readNow(): Promise<void> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined
    })
    return this.reading
  }

  private async read(): Promise<void> {
    if (this.handle === undefined) {
      // nginx creates the file at start and again when it reopens: until then, nothing to read.
      this.handle = await open(this.options.file, 'r').catch(() => undefined)
      this.offset = 0
      if (this.handle === undefined) return
    }
    const buffer = Buffer.allocUnsafe(READ_BYTES)
    const entries: AccessEntry[] = []
    for (;;) {
      const {bytesRead} = await this.handle.read(buffer, 0, READ_BYTES, this.offset)
      if (bytesRead === 0) break
      this.offset += bytesRead
      const text = this.partial + buffer.toString('utf8', 0, bytesRead)
      const lines = text.split('\n')
      this.partial = lines.pop() ?? ''
      for (const line of lines) {
        const entry = parseAccessLine(line)
        if (entry !== undefined) entries.push(entry)
      }
    }
    if (entries.length > 0) this.options.onEntries(entries)
    if (this.rotating === 'waiting') {
      // Once nginx created the new file, read the old one a last time on the next tick (a worker
      // flushes its buffer into the old file just before it switches).
      if (await stat(this.options.file).then(() => true, () => false)) this.rotating = 'last-read'
      return
    }
    if (this.rotating === 'last-read') {
      await this.handle.close()
      this.handle = undefined
      this.partial = ''
      this.rotating = 'no'
      return
    }
    if (this.offset >= (this.options.maxBytes ?? 16 * 1024 * 1024)) {
      await unlink(this.options.file).catch(() => undefined)
      this.rotating = 'waiting'
      this.options.reopen()
    }
  }
}

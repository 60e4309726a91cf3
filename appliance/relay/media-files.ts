/**
 * The relay's media objects as files (the page cache holds them), for nginx to send with
 * sendfile: the relay pulls each object once and writes it here, nginx serves every viewer after that. Bounded by bytes (least
 * recently stored goes first; a file nginx is still sending stays readable until it closes it).
 *
 *   files/live/<channel>          → a symlink to the channel's current broadcast, swapped in one
 *                                   rename when a new broadcast starts (segment and init names
 *                                   repeat across broadcasts; the link keeps them apart)
 *   streams/<channel>/<id>/<rendition>/{init.mp4, seg<N>.m4s, part<N>.<i>.m4s}
 *
 * nginx's root is files/, so /live/<channel>/720p/seg12.m4s is the current broadcast's file or
 * nothing (then nginx asks the relay process). A channel that went offline loses its link.
 */
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, readFile, rename, rm, symlink, unlink, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {Logger} from '../platform/logger.js'
import {ByteLru, SingleFlight} from './cache.js'

/** Files take whole pages of memory: a 20 KB part takes 20 KiB rounded up, plus its inode. */
const PAGE_BYTES = 4096
const fileBytes = (size: number): number => Math.ceil(size / PAGE_BYTES) * PAGE_BYTES + PAGE_BYTES

export class MediaFiles {
  /** channel/streamId/path → the file's absolute path. */
  private readonly lru: ByteLru<string>
  /** The broadcast each channel's link points at now. */
  private readonly linked = new Map<string, string>()
  private readonly linking = new SingleFlight<void>()
  private readonly dirs = new Set<string>()

  private constructor(
    readonly root: string,
    maxBytes: number,
    private readonly log: Logger,
  ) {
    this.lru = new ByteLru<string>(maxBytes, () => PAGE_BYTES, Date.now, (_key, file) => {
      unlink(file).catch(() => undefined)
    })
  }

  /** Empties root (files of an earlier run are not trusted) and lays out its folders. */
  static async open(root: string, maxBytes: number, log: Logger): Promise<MediaFiles> {
    await rm(path.join(root, 'files'), {recursive: true, force: true})
    await rm(path.join(root, 'streams'), {recursive: true, force: true})
    await mkdir(path.join(root, 'files', 'live'), {recursive: true})
    await mkdir(path.join(root, 'streams'), {recursive: true})
    return new MediaFiles(root, maxBytes, log)
  }

  /** nginx's document root. */
  get servedRoot(): string {
    return path.join(this.root, 'files')
  }

  has(channel: string, streamId: string, objectPath: string): boolean {
    return this.lru.get(key(channel, streamId, objectPath)) !== undefined
  }

  async read(channel: string, streamId: string, objectPath: string): Promise<Buffer | undefined> {
    const file = this.lru.get(key(channel, streamId, objectPath))
    return file === undefined ? undefined : readFile(file).catch(() => undefined)
  }

  /** Points the channel's link at this broadcast (a no-op when it already does). */
  async show(channel: string, streamId: string): Promise<void> {
    if (this.linked.get(channel) === streamId) return
    await this.linking.run(`${channel}\n${streamId}`, async () => {
      const target = this.streamDir(channel, streamId)
      await mkdir(target, {recursive: true})
      const link = this.linkPath(channel)
      const temporary = `${link}.${randomBytes(4).toString('hex')}`
      await symlink(target, temporary)
      await rename(temporary, link)
      const previous = this.linked.get(channel)
      this.linked.set(channel, streamId)
      if (previous !== undefined) await this.forget(channel, previous)
      this.log.debug({channel, streamId}, 'serving files of this broadcast')
    }).promise
  }

  /** The channel is offline: nginx finds none of its files any more. */
  async hide(channel: string): Promise<void> {
    const previous = this.linked.get(channel)
    if (previous === undefined) return
    this.linked.delete(channel)
    await rm(this.linkPath(channel), {force: true})
    await this.forget(channel, previous)
  }

  /**
   * Stores one object of the broadcast the channel shows now (written aside and renamed into
   * place, so nginx never sends half a file). False when it was not stored: another broadcast
   * is shown, or the object is bigger than the whole bound.
   */
  async put(channel: string, streamId: string, objectPath: string, body: Buffer): Promise<boolean> {
    if (this.linked.get(channel) !== streamId) return false
    const dir = path.join(this.streamDir(channel, streamId), path.dirname(objectPath))
    const file = path.join(dir, path.basename(objectPath))
    if (!this.dirs.has(dir)) {
      await mkdir(dir, {recursive: true})
      this.dirs.add(dir)
    }
    const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`
    try {
      await writeFile(temporary, body)
      await rename(temporary, file)
    } catch (error) {
      await unlink(temporary).catch(() => undefined)
      this.log.warn({channel, path: objectPath, err: (error as Error).message}, 'cannot store a media file; serving it from memory')
      return false
    }
    // The broadcast may have ended while the file was written.
    if (this.linked.get(channel) !== streamId) {
      await unlink(file).catch(() => undefined)
      return false
    }
    const stored = this.lru.setSized(key(channel, streamId, objectPath), file, fileBytes(body.length))
    if (!stored) await unlink(file).catch(() => undefined)
    return stored
  }

  stats(): {bytes: number; entries: number; maxBytes: number; evictions: number} {
    return this.lru.stats()
  }

  /** Drops the files of a broadcast no longer shown. */
  private async forget(channel: string, streamId: string): Promise<void> {
    const dir = this.streamDir(channel, streamId)
    this.lru.deletePrefix(key(channel, streamId, ''))
    for (const known of this.dirs) if (known.startsWith(dir)) this.dirs.delete(known)
    await rm(dir, {recursive: true, force: true})
  }

  private linkPath(channel: string): string {
    return path.join(this.root, 'files', 'live', channel)
  }

  private streamDir(channel: string, streamId: string): string {
    // Stream ids come from Redis: hashed, never used as a path as they are.
    return path.join(this.root, 'streams', channel, createHash('sha1').update(streamId).digest('hex').slice(0, 16))
  }
}

const key = (channel: string, streamId: string, objectPath: string): string => `${channel}/${streamId}/${objectPath}`

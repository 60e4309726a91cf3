/**
 * The backup target folder (contract/backup.ts has its layout): the blobs by content, the complete
 * backups, and the partial one being written.
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readdir, readFile, rm, stat} from 'node:fs/promises'
import path from 'node:path'

import {BACKUP_ID_PATTERN, BACKUP_MANIFEST, backupManifestSchema, type BackupManifest} from '../contract/index.js'

/** Something the admin can fix (no such backup, a full disk, a damaged file): said as it is, exit 1. */
export class BackupProblem extends Error {
  override name = 'BackupProblem'
  constructor(message: string, readonly actions: string[] = []) {
    super(message)
  }
}

export const blobPath = (dir: string, sha256: string): string => path.join(dir, 'blobs', sha256.slice(0, 2), sha256)
export const partialPath = (dir: string, id: string): string => path.join(dir, `.${id}.partial`)

/** The sha256 of a file's bytes. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export async function readManifest(dir: string, id: string): Promise<BackupManifest> {
  const file = path.join(dir, id, BACKUP_MANIFEST)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      const known = await completeBackups(dir)
      throw new BackupProblem(`there is no complete backup ${id} in ${dir}`, [
        known.length === 0 ? `No complete backup is there; make one with: shing backup --to ${dir}` : `The backups there: ${known.join(', ')}`,
      ])
    }
    throw error
  }
  const parsed = backupManifestSchema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new BackupProblem(`${file} is not a Shing backup manifest this version reads: ${parsed.error.issues[0]?.message ?? ''}`)
  if (parsed.data.id !== id) throw new BackupProblem(`${file} is the manifest of ${parsed.data.id}: the backup folder was renamed or copied wrong`)
  return parsed.data
}

/** The ids of the complete backups in the target, oldest first (a folder with its manifest). */
export async function completeBackups(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const ids: string[] = []
  for (const name of names.filter((n) => BACKUP_ID_PATTERN.test(n)).sort()) {
    if (await exists(path.join(dir, name, BACKUP_MANIFEST))) ids.push(name)
  }
  return ids
}

export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/** Removes backups beyond the newest `keep`, then every blob no remaining backup names. */
export async function prune(dir: string, keep: number): Promise<string[]> {
  const ids = await completeBackups(dir)
  const removed = ids.slice(0, Math.max(0, ids.length - keep))
  if (removed.length === 0) return removed
  // What the kept backups hold, read before anything goes.
  const wanted = new Set<string>()
  for (const id of ids.slice(removed.length)) for (const entry of (await readManifest(dir, id)).objects.entries) wanted.add(entry.sha256)
  for (const id of removed) await rm(path.join(dir, id), {recursive: true, force: true})
  const blobs = path.join(dir, 'blobs')
  for (const shard of await readdir(blobs).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(blobs, shard))) {
      if (!wanted.has(name)) await rm(path.join(blobs, shard, name), {force: true})
    }
  }
  return removed
}

/** How many objects are copied at once (S3 answers each request with some latency of its own). */
export const OBJECTS_AT_ONCE = 4

/** Runs work over the items, `limit` at a time; the first failure stops the others from starting more. */
export async function eachAtOnce<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  await Promise.all(
    Array.from({length: Math.min(limit, items.length)}, async () => {
      while (!failed && next < items.length) {
        const index = next++
        try {
          await work(items[index]!, index)
        } catch (error) {
          failed = true
          throw error
        }
      }
    }),
  )
}

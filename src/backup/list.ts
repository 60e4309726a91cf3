/** The backups in a target folder, as `shing backup list` shows them and `shing restore` finds them. */
import {readdir, readFile, stat} from 'node:fs/promises'
import path from 'node:path'

import {BACKUP_ID_PATTERN, BACKUP_MANIFEST, backupManifestSchema, type BackupManifest} from '../../appliance/contract/index.js'
import {AbortError, errorMessage} from '../errors.js'

const isFile = (file: string): Promise<boolean> => stat(file).then((s) => s.isFile(), () => false)

/** The ids of the complete backups in a target folder (those with their manifest), oldest first. */
export async function completeBackupIds(target: string): Promise<string[]> {
  const names = await readdir(target).catch((error: NodeJS.ErrnoException) => {
    throw new AbortError(`There is no backup folder at ${target} (${error.code ?? errorMessage(error)}).`, ['Name the folder you back up to: --to <folder>'])
  })
  const ids: string[] = []
  for (const name of names.filter((n) => BACKUP_ID_PATTERN.test(n)).sort()) if (await isFile(path.join(target, name, BACKUP_MANIFEST))) ids.push(name)
  return ids
}

/** A backup folder's manifest, checked. */
export async function readBackupManifest(folder: string): Promise<BackupManifest> {
  let manifest: BackupManifest
  try {
    manifest = backupManifestSchema.parse(JSON.parse(await readFile(path.join(folder, BACKUP_MANIFEST), 'utf8')))
  } catch (error) {
    throw new AbortError(`${path.join(folder, BACKUP_MANIFEST)} is not a backup manifest this version reads: ${errorMessage(error).slice(0, 300)}`)
  }
  if (manifest.id !== path.basename(folder)) throw new AbortError(`The backup folder ${folder} holds the manifest of ${manifest.id}: it was renamed or copied wrong.`)
  return manifest
}

/** A backup's folder, or a target folder (its newest complete backup). */
export async function findBackup(where: string): Promise<{target: string; id: string; manifest: BackupManifest}> {
  const resolved = path.resolve(where)
  let folder = resolved
  if (!(await isFile(path.join(resolved, BACKUP_MANIFEST)))) {
    const newest = (await completeBackupIds(resolved)).pop()
    if (newest === undefined) throw new AbortError(`There is no complete backup in ${resolved}.`, ['Name a backup folder: shing restore <target>/<id>', `See what is there: shing backup list --to ${resolved}`])
    folder = path.join(resolved, newest)
  }
  const manifest = await readBackupManifest(folder)
  return {target: path.dirname(folder), id: manifest.id, manifest}
}

export interface BackupListing {
  target: string
  backups: Array<{id: string; path: string; createdAt: string; version: string; seconds: number; documents: number; redisKeys: number; objects: number; objectBytes: number; copied: number; copiedBytes: number}>
  /** Unfinished backups (interrupted, or being written now): not backups. */
  partial: string[]
  /** What the folder's objects take on disk, all backups together. */
  blobBytes: number
}

export async function listBackups(to: string): Promise<BackupListing> {
  const target = path.resolve(to)
  const ids = await completeBackupIds(target)
  const backups: BackupListing['backups'] = []
  for (const id of ids) {
    const m = await readBackupManifest(path.join(target, id))
    backups.push({
      id,
      path: path.join(target, id),
      createdAt: m.createdAt,
      version: m.version,
      seconds: m.seconds,
      documents: m.mongo.collections.reduce((sum, c) => sum + c.documents, 0),
      redisKeys: m.redis.keys,
      objects: m.objects.count,
      objectBytes: m.objects.bytes,
      copied: m.objects.copied,
      copiedBytes: m.objects.copiedBytes,
    })
  }
  const partial = (await readdir(target)).filter((n) => /^\.\d{8}T\d{6}Z\.partial$/.test(n)).map((n) => n.slice(1, -'.partial'.length))
  let blobBytes = 0
  const blobs = path.join(target, 'blobs')
  for (const shard of await readdir(blobs).catch(() => [] as string[])) {
    if (shard === 'tmp') continue
    for (const name of await readdir(path.join(blobs, shard))) blobBytes += (await stat(path.join(blobs, shard, name))).size
  }
  return {target, backups, partial, blobBytes}
}

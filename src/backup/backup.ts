/**
 * `shing backup`: the site's MongoDB, the Redis keys that must survive, the object storage and the
 * sealed config, into a folder of this box, by the backup task (appliance/backup.ts) run in the
 * swarm. contract/backup.ts has the folder's layout.
 */
import {chmod, mkdir, readFile, stat} from 'node:fs/promises'
import path from 'node:path'

import {BACKUP_MANIFEST, backupId, backupSummarySchema, type BackupProgress, type BackupSummary} from '../../appliance/contract/index.js'
import {CONFIG_FILE, SECRETS_FILE} from '../config/files.js'
import {loadConfig} from '../config/load.js'
import type {Engine} from '../engine/engine.js'
import {AbortError} from '../errors.js'
import {fileSystemAbort} from '../lib/write-file.js'
import {shingVersion} from '../lib/version.js'
import {dockerName} from '../stack/names.js'
import {seal} from './seal.js'
import {refuseConcurrentTask, runTask, taskSpec, webTemplate} from './task.js'

export interface BackupOptions {
  dir: string
  to: string
  passphrase: () => Promise<string>
  keep?: number
  timeoutMs: number
  onProgress: (p: BackupProgress) => void
}

export interface BackupResult extends BackupSummary {
  target: string
  restoreWith: string
}

/** A target folder on this box, made if missing; s3:// is not one yet. */
export async function backupTarget(to: string): Promise<string> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(to)) {
    throw new AbortError(`Backups go to a folder of this box for now; ${to} is not one.`, [
      'Back up to a folder (e.g. --to /var/backups/shing), then copy that folder where you keep backups (rsync, rclone, aws s3 sync)',
    ])
  }
  const target = path.resolve(to)
  try {
    // The backups hold password hashes, addresses and webhook secrets: root's eyes only.
    await mkdir(target, {recursive: true, mode: 0o700})
    await chmod(target, 0o700)
  } catch (error) {
    throw fileSystemAbort(error, path.join(target, 'x'), 'no backup was made.') ?? error
  }
  return target
}

export async function backup(engine: Engine, options: BackupOptions): Promise<BackupResult> {
  const {paths} = await loadConfig(options.dir)
  const target = await backupTarget(options.to)
  await refuseConcurrentTask(engine)
  const template = await webTemplate(engine)
  const {swarm} = await engine.info()
  if (swarm.nodeId === undefined) throw new AbortError('This engine is not in a swarm.', ['Start the stack: shing up'])
  const files = {[CONFIG_FILE]: await readFile(paths.config, 'utf8'), [SECRETS_FILE]: await readFile(paths.secrets, 'utf8')}
  const sealedConfig = await seal(files, await options.passphrase())
  const id = backupId(new Date())
  const spec = taskSpec(template, {
    name: dockerName(`backup_${id.toLowerCase()}`),
    kind: 'backup',
    nodeId: swarm.nodeId,
    hostDir: target,
    request: {operation: 'backup', id, version: shingVersion(), sealedConfig, ...(options.keep === undefined ? {} : {keep: options.keep})},
  })
  const whole = (): Promise<boolean> => stat(path.join(target, id, BACKUP_MANIFEST)).then(() => true, () => false)
  const interrupted = new AbortError(`The backup was interrupted; the unfinished one (.${id}.partial in ${target}) is not a backup, and the next backup removes it.`, [
    `Run it again: shing backup --to ${target}`,
  ])
  let result: unknown
  try {
    result = await runTask(engine, spec, {timeoutMs: options.timeoutMs, onProgress: options.onProgress, onInterrupt: () => interrupted})
  } catch (error) {
    // Interrupted in its last moment: it may have become whole all the same.
    if (error === interrupted && (await whole())) {
      throw new AbortError(`The backup was interrupted after it was written whole: ${path.join(target, id)} is a backup (older ones may not have been removed).`, [`Restore it with: shing restore ${path.join(target, id)}`])
    }
    throw error
  }
  const summary = backupSummarySchema.parse(result)
  return {...summary, path: path.join(target, summary.id), target, restoreWith: `shing restore ${path.join(target, summary.id)}`}
}

/**
 * `shing restore <backup>`: onto an empty box (with no config yet, or after `init`) or over a
 * running site. The backup's shing.yaml and secrets become this box's (the ones they replace are
 * kept beside them); the stack comes up; the components that write are stopped; the restore task
 * puts the data back and checks it; everything starts again.
 */
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {componentNames, restoreSummarySchema, type BackupProgress, type RestoreSummary} from '../../appliance/contract/index.js'
import {CONFIG_FILE, configPaths, SECRETS_FILE} from '../config/files.js'
import type {Engine} from '../engine/engine.js'
import {pollUntil} from '../engine/poll.js'
import {AbortError, errorMessage} from '../errors.js'
import {writeFileAtomic} from '../lib/write-file.js'
import {labels, STACK, dockerName} from '../stack/names.js'
import type {ProgressEvent} from '../up/apply.js'
import {readActualStack, stackLabels} from '../up/read-stack.js'
import {up, type UpResult} from '../up/up.js'
import {findBackup} from './list.js'
import {unseal} from './seal.js'
import {refuseConcurrentTask, runTask, taskSpec, webTemplate} from './task.js'

export interface RestoreOptions {
  dir: string
  backup: string
  passphrase: () => Promise<string>
  /** Asked before data is replaced; false stops the restore before anything changed. */
  confirmOverSite: (what: string) => Promise<boolean>
  timeoutMs: number
  healthTimeoutMs: number
  onProgress: (p: BackupProgress) => void
  onStack: (event: ProgressEvent) => void
}

export interface RestoreResult extends RestoreSummary {
  backup: string
  createdAt: string
  /** The files of this box the backup's replaced, kept under these names. */
  keptFiles: string[]
  urls: UpResult['urls']
}

async function readOptional(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
}

export async function restore(engine: Engine, options: RestoreOptions): Promise<RestoreResult> {
  const {target, id, manifest} = await findBackup(options.backup)
  if (manifest.config === undefined) throw new AbortError(`The backup ${id} has no config; it cannot be restored by itself.`)
  const sealedText = await readFile(path.join(target, id, manifest.config.file), 'utf8')
  if (createHash('sha256').update(sealedText).digest('hex') !== manifest.config.sha256) {
    throw new AbortError(`The backup's ${manifest.config.file} is damaged: its checksum is not the manifest's.`, ['Restore an earlier backup'])
  }
  const files = await unseal(sealedText, await options.passphrase())
  const restoredConfig = files[CONFIG_FILE]
  const restoredSecrets = files[SECRETS_FILE]
  if (restoredConfig === undefined || restoredSecrets === undefined) throw new AbortError(`The backup ${id} lacks ${CONFIG_FILE} or ${SECRETS_FILE}.`)
  await refuseConcurrentTask(engine)

  const paths = configPaths(options.dir)
  const [localConfig, localSecrets] = await Promise.all([readOptional(paths.config), readOptional(paths.secrets)])
  const actual = await readActualStack(engine)
  const volumes = await engine.listVolumes(stackLabels)
  if (volumes.length > 0 || actual.services.length > 0) {
    // A lost secrets file counts as other passwords: MongoDB's volume keeps whichever it was made with.
    if (localSecrets !== restoredSecrets && volumes.length > 0) {
      throw new AbortError(
        "This box's data volumes were made with other passwords than the backup's secrets, and MongoDB keeps the one it was made with.",
        ['The restore replaces all the data: remove it first with shing down --volumes --yes, then run the restore again'],
      )
    }
    const sure = await options.confirmOverSite(`Replace this site's data (${actual.services.length} services, ${volumes.length} volumes) with the backup ${id}?`)
    if (!sure) throw new AbortError('Nothing was changed.', ['To replace the data without a question: shing restore <backup> --yes'])
  }

  // The backup's config and secrets become this box's; what they replace is kept beside them.
  const keptFiles: string[] = []
  for (const [file, local, restored, mode] of [
    [paths.config, localConfig, restoredConfig, 0o644],
    [paths.secrets, localSecrets, restoredSecrets, 0o600],
  ] as const) {
    if (local !== undefined && local !== restored) {
      const kept = `${file}.before-restore-${id}`
      await writeFileAtomic(kept, local, mode)
      keptFiles.push(kept)
    }
    if (local !== restored) await writeFileAtomic(file, restored, mode)
  }

  // Up, so MongoDB, Redis and the storage run (on an empty box, made with the backup's secrets).
  await up(engine, {dir: options.dir, dryRun: false, joinExisting: false, healthTimeoutMs: options.healthTimeoutMs, onProgress: options.onStack})
  const template = await webTemplate(engine)
  const {swarm} = await engine.info()
  if (swarm.nodeId === undefined) throw new AbortError('This engine is not in a swarm.')
  // Nothing may write while the data is replaced: the components go (up brings them back).
  for (const name of componentNames) await engine.removeService(dockerName(name))
  await pollUntil(
    async () => {
      const left = await engine.listContainers({labels: {[labels.stack]: STACK}})
      return left.some((c) => (componentNames as readonly string[]).includes(c.labels[labels.component] ?? '')) ? undefined : true
    },
    {what: 'the components to stop', timeoutMs: 120_000, intervalMs: 1000},
  )
  const spec = taskSpec(template, {name: dockerName(`restore_${id.toLowerCase()}`), kind: 'restore', nodeId: swarm.nodeId, hostDir: target, request: {operation: 'restore', id}})
  let summary: RestoreSummary
  try {
    summary = restoreSummarySchema.parse(
      await runTask(engine, spec, {
        timeoutMs: options.timeoutMs,
        onProgress: options.onProgress,
        onInterrupt: () => new AbortError('The restore was interrupted: the data is partly restored and the components are stopped.', [`Run it again: shing restore ${path.join(target, id)} --yes`]),
      }),
    )
  } catch (error) {
    const actions = error instanceof AbortError ? error.actions : []
    throw new AbortError(`${errorMessage(error)} The components that write are stopped.`, [
      ...actions,
      `Run the restore again once fixed: shing restore ${path.join(target, id)} --yes`,
      'Or start the site as it is now: shing up',
    ])
  }
  const started = await up(engine, {dir: options.dir, dryRun: false, joinExisting: false, healthTimeoutMs: options.healthTimeoutMs, onProgress: options.onStack})
  return {...summary, backup: path.join(target, id), createdAt: manifest.createdAt, keptFiles, urls: started.urls}
}

/**
 * The backup task: `shing backup` and `shing restore` run it as a one-shot swarm task in the
 * appliance image, with the web's environment and secrets and the target folder mounted at
 * SHING_BACKUP_DIR. Its input is SHING_BACKUP_REQUEST (contract/backup.ts). It prints one JSON
 * line per step of progress and ends with one AdminReply line: the summary, or what went wrong.
 */
import pino from 'pino'

import {
  BACKUP_DIR_ENV,
  BACKUP_MOUNT,
  BACKUP_REQUEST_ENV,
  backupRequestSchema,
  type AdminReply,
  type BackupProgress,
} from './contract/index.js'
import {restoreBackup} from './backup/restore.js'
import {BackupProblem} from './backup/target.js'
import {writeBackup} from './backup/write.js'
import {parseEnv, readSecrets, secret} from './platform/env.js'
import {connectMongo} from './platform/mongo.js'
import {closeRedis, connectRedis, parseHostPort} from './platform/redis.js'
import {connectStorage, storageOptions} from './platform/storage.js'

const say = (line: unknown): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}
const onProgress = (progress: BackupProgress): void => say({progress})

/** What the admin can act on, in words; anything else is ours. */
function reply(error: unknown): AdminReply {
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return {ok: false, error: {kind: 'abort', message: 'the backup target is full; nothing that claims to be a backup was left there', actions: ['Free space there, or back up to another place: shing backup --to <dir>', 'Keep fewer backups: --keep <n>']}}
  }
  if (code === 'EACCES' || code === 'EROFS') return {ok: false, error: {kind: 'abort', message: `the backup target cannot be written: ${message}`, actions: ['Choose a folder root can write to']}}
  if (error instanceof BackupProblem) return {ok: false, error: {kind: 'abort', message, actions: error.actions}}
  return {ok: false, error: {kind: 'bug', message: error instanceof Error ? (error.stack ?? message) : message, actions: []}}
}

async function main(): Promise<AdminReply> {
  // A backup holds password hashes, addresses and webhook secrets: for root's eyes only.
  process.umask(0o077)
  const quiet = pino({level: 'silent'})
  try {
    const request = backupRequestSchema.parse(JSON.parse(process.env[BACKUP_REQUEST_ENV] ?? 'null'))
    const dir = process.env[BACKUP_DIR_ENV] ?? BACKUP_MOUNT
    const env = parseEnv(process.env)
    const secrets = await readSecrets(env.SHING_SECRETS_DIR, ['redisPassword', 'mongoRootPassword', 's3AccessKey', 's3SecretKey'])
    const redis = connectRedis({...parseHostPort(env.SHING_REDIS_HOST, 6379), password: secret(secrets, 'redisPassword')}, quiet, 'shing-backup')
    // Large values (a queue's job with its data) take longer than a health check's 3 s.
    redis.options.commandTimeout = 60_000
    const mongo = connectMongo(env.SHING_MONGO_HOST, secret(secrets, 'mongoRootPassword'), 'shing-backup')
    const storage = connectStorage(storageOptions(env, secrets))
    const sources = {db: mongo.db, redis, storage}
    try {
      if (request.operation === 'backup') {
        return {
          ok: true,
          result: await writeBackup(sources, {
            dir,
            id: request.id,
            version: request.version,
            onProgress,
            ...(request.sealedConfig === undefined ? {} : {sealedConfig: request.sealedConfig}),
            ...(request.keep === undefined ? {} : {keep: request.keep}),
          }),
        }
      }
      return {ok: true, result: await restoreBackup(sources, dir, request.id, onProgress)}
    } finally {
      storage.close()
      await Promise.all([closeRedis(redis), mongo.close()])
    }
  } catch (error) {
    return reply(error)
  }
}

const result = await main()
say(result)
process.exitCode = result.ok ? 0 : 1

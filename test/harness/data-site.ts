/**
 * A site's data services without its components: Redis (password), FerretDB (auth) and MinIO,
 * the secret files and the environment a component (or the backup task) gets, and clients of each.
 * For the backup task's test and bench:backup.
 */
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'
import {Redis} from 'ioredis'
import {Client as MinioClient} from 'minio'
import {MongoClient} from 'mongodb'
import YAML from 'yaml'

import {BACKUP_DIR_ENV, BACKUP_REQUEST_ENV, MONGO_USER, type BackupRequest} from '../../appliance/contract/index.js'
import {siteEnv, writeSecretFiles} from './appliance.js'
import {repoRoot} from './cli.js'
import {startMongoWire, type MongoWireServer} from './mongo-wire.js'
import {tempDir} from './process.js'
import {startRedis, type RedisServer} from './redis.js'
import {startS3, type S3Server} from './s3.js'

export const DATA_BUCKET = 'shing-media'

export interface DataSite {
  redis: RedisServer
  mongo: MongoWireServer
  s3: S3Server
  /** The web's environment: what the backup task runs with in the stack. */
  env: NodeJS.ProcessEnv
  redisClient: Redis
  mongoClient: MongoClient
  minio: MinioClient
  stop(): Promise<void>
}

export async function startDataSite(): Promise<DataSite> {
  const redisPassword = randomBytes(12).toString('hex')
  const mongoPassword = randomBytes(12).toString('hex')
  const [redis, mongo, s3] = await Promise.all([startRedis({password: redisPassword}), startMongoWire({auth: {username: MONGO_USER, password: mongoPassword}}), startS3()])
  const secrets = await tempDir('data-site-secrets')
  await writeSecretFiles(secrets.dir, {mongoPassword, redisPassword, s3})
  const profile = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles', 'cpu-small.yaml'), 'utf8')) as unknown
  const env = {...siteEnv({redisPort: redis.port, mongoUrl: mongo.url, s3, secretsDir: secrets.dir, profile, bucket: DATA_BUCKET}), SHING_COMPONENT: 'web'}
  const redisClient = new Redis({port: redis.port, host: '127.0.0.1', password: redisPassword})
  const mongoClient = new MongoClient(`mongodb://${MONGO_USER}:${mongoPassword}@${new URL(mongo.url).host}/?authSource=admin`)
  const minio = new MinioClient({endPoint: '127.0.0.1', port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, pathStyle: true})
  return {
    redis,
    mongo,
    s3,
    env,
    redisClient,
    mongoClient,
    minio,
    stop: async () => {
      redisClient.disconnect()
      await mongoClient.close()
      await Promise.all([redis.stop(), mongo.stop(), s3.stop()])
      await secrets.remove()
    },
  }
}

const backupJs = path.join(repoRoot, 'appliance/dist/backup.js')

/** Runs the backup task (appliance/dist/backup.js) as the swarm does, with the request in its environment. */
export async function runBackupTask(servers: DataSite, dir: string, request: BackupRequest, options: {signalAfter?: RegExp; timeoutMs?: number; onOutput?: (text: string) => void} = {}) {
  const child = execa(process.execPath, [backupJs], {
    env: {...servers.env, [BACKUP_DIR_ENV]: dir, [BACKUP_REQUEST_ENV]: JSON.stringify(request)},
    extendEnv: false,
    reject: false,
    timeout: options.timeoutMs ?? 120_000,
  })
  if (options.onOutput !== undefined) {
    const onOutput = options.onOutput
    child.stdout?.on('data', (chunk: Buffer) => onOutput(chunk.toString()))
  }
  if (options.signalAfter !== undefined) {
    const pattern = options.signalAfter
    child.stdout?.on('data', (chunk: Buffer) => {
      if (pattern.test(chunk.toString())) child.kill('SIGINT')
    })
  }
  const done = await child
  const lines = String(done.stdout).trim().split('\n').filter(Boolean)
  const last = JSON.parse(lines.at(-1) ?? 'null') as {ok: boolean; result?: Record<string, unknown>; error?: {kind: string; message: string; actions: string[]}} | null
  return {exitCode: done.exitCode, signal: done.signal, lines, reply: last, stderr: String(done.stderr)}
}


import type {Readable} from 'node:stream'

import {Client} from 'minio'

import type {Logger} from './logger.js'

export interface StorageOptions {
  /** http(s)://host[:port] of any S3 API. */
  endpoint: string
  region: string
  bucket: string
  pathStyle: boolean
  accessKey: string
  secretKey: string
}

export interface Storage {
  client: Client
  bucket: string
  /** Throws unless the bucket exists and the credentials may see it. */
  check(): Promise<void>
  /** Creates the bucket unless it exists; retries in the background until it succeeds. */
  ensureBucket(log: Logger): void
  close(): void
}

export function connectStorage(options: StorageOptions): Storage {
  const url = new URL(options.endpoint)
  const useSSL = url.protocol === 'https:'
  const client = new Client({
    endPoint: url.hostname,
    port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    region: options.region,
    pathStyle: options.pathStyle,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
  })
  const {bucket} = options
  let ensured = false
  let timer: NodeJS.Timeout | undefined
  const check = async (): Promise<void> => {
    if (!(await client.bucketExists(bucket))) throw new Error(`bucket ${bucket} does not exist`)
  }
  const ensureOnce = async (): Promise<void> => {
    if (await client.bucketExists(bucket)) return
    try {
      await client.makeBucket(bucket, options.region)
    } catch (error) {
      // Two replicas starting together both try; the loser's "already owned" means done.
      if ((error as {code?: string}).code !== 'BucketAlreadyOwnedByYou') throw error
    }
  }
  return {
    client,
    bucket,
    check,
    ensureBucket: (log) => {
      let attempt = 0
      const tryNow = (): void => {
        ensureOnce().then(
          () => {
            ensured = true
            log.info({bucket}, 'bucket ready')
          },
          (error: Error) => {
            attempt += 1
            if (attempt === 1 || attempt % 10 === 0) log.warn({bucket, err: error.message, attempt}, 'cannot make sure the bucket exists yet; retrying')
            timer = setTimeout(tryNow, Math.min(500 * attempt, 5000))
          },
        )
      }
      if (!ensured) tryNow()
    },
    close: () => clearTimeout(timer),
  }
}

/** S3's "there is no such object", as MinIO and other S3 APIs say it. */
export const isMissingObject = (error: unknown): boolean => {
  const code = (error as {code?: string}).code
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket'
}

export async function readObjectText(storage: Storage, key: string): Promise<string> {
  const stream: Readable = await storage.client.getObject(storage.bucket, key)
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Every object name under a prefix (recursive). */
export async function listObjectNames(storage: Storage, prefix: string): Promise<string[]> {
  const names: string[] = []
  for await (const item of storage.client.listObjectsV2(storage.bucket, prefix, true)) {
    const name = (item as {name?: string}).name
    if (name !== undefined) names.push(name)
  }
  return names
}

/** An object's size in bytes, or undefined when there is no such object. */
export async function objectSize(storage: Storage, key: string): Promise<number | undefined> {
  try {
    return (await storage.client.statObject(storage.bucket, key)).size
  } catch (error) {
    if (isMissingObject(error)) return undefined
    throw error
  }
}

/** S3 takes at most this many keys per delete request. */
export const DELETE_BATCH = 1000

/** Removes these objects, DELETE_BATCH keys per request; throws when S3 refuses any (a missing one is no error). */
export async function removeObjectNames(storage: Storage, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += DELETE_BATCH) {
    const answers = await storage.client.removeObjects(storage.bucket, names.slice(i, i + DELETE_BATCH))
    const failed = (answers as Array<{Error?: {Code?: string}; Code?: string}>).filter((a) => a.Error !== undefined || a.Code !== undefined)
    if (failed.length > 0) throw new Error(`${failed.length} of ${names.length} object(s) not removed from ${storage.bucket}`)
  }
}

import {open, stat} from 'node:fs/promises'
import type {Readable} from 'node:stream'

import {Client} from 'minio'

import {secret, type ApplianceEnv, type Secrets} from './env.js'
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

/** The site's storage as the environment and the secrets name it. */
export function storageOptions(env: ApplianceEnv, secrets: Secrets): StorageOptions {
  return {
    endpoint: env.SHING_S3_ENDPOINT,
    region: env.SHING_S3_REGION,
    bucket: env.SHING_S3_BUCKET,
    pathStyle: env.SHING_S3_PATH_STYLE === 'true',
    accessKey: secret(secrets, 's3AccessKey'),
    secretKey: secret(secrets, 's3SecretKey'),
  }
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

/** A large upload's parts (S3 takes 5 MiB and more), and how many go at once. */
const PART_BYTES = 16 * 1024 * 1024
const PARTS_AT_ONCE = 4

/**
 * Uploads a local file to `key`, replacing what is there. A large one goes as a multipart upload,
 * a few parts at once: one PUT reads and hashes the whole file before it sends a byte (a 53 MB
 * MP4: 450 ms as one PUT, 230 ms in 16 MiB parts, two or more at once, on the 2-core dev box).
 * A failed upload is aborted, leaving no parts behind.
 */
export async function putFile(storage: Storage, key: string, file: string, contentType: string): Promise<void> {
  const {client, bucket} = storage
  const {size} = await stat(file)
  if (size <= PART_BYTES) {
    await client.fPutObject(bucket, key, file, {'Content-Type': contentType})
    return
  }
  const handle = await open(file)
  let uploadID: string | undefined
  try {
    uploadID = await client.initiateNewMultipartUpload(bucket, key, {'Content-Type': contentType})
    const upload = uploadID
    const count = Math.ceil(size / PART_BYTES)
    const etags: {part: number; etag: string}[] = []
    let next = 0
    let failed = false
    const uploader = async (): Promise<void> => {
      while (next < count && !failed) {
        const index = next++
        const length = Math.min(PART_BYTES, size - index * PART_BYTES)
        const part = Buffer.allocUnsafe(length)
        const {bytesRead} = await handle.read(part, 0, length, index * PART_BYTES)
        if (bytesRead !== length) throw new Error(`${file} changed while it was uploaded`)
        const {etag} = await client.uploadPart({bucketName: bucket, objectName: key, uploadID: upload, partNumber: index + 1, headers: {'Content-Length': length}}, part)
        etags.push({part: index + 1, etag})
      }
    }
    const settled = await Promise.allSettled(Array.from({length: Math.min(PARTS_AT_ONCE, count)}, () => uploader().catch((error: unknown) => {
      failed = true
      throw error
    })))
    const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (refused !== undefined) throw refused.reason
    await client.completeMultipartUpload(bucket, key, upload, etags.sort((a, b) => a.part - b.part))
  } catch (error) {
    if (uploadID !== undefined) await client.abortMultipartUpload(bucket, key, uploadID).catch(() => undefined)
    throw error
  } finally {
    await handle.close()
  }
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

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

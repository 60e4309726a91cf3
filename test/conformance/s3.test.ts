import {createHash, randomBytes} from 'node:crypto'
import type {Readable} from 'node:stream'

import {Client, type BucketItem} from 'minio'
import {expect, it} from 'vitest'

import {markReal} from '../harness/real-part.js'
import {startS3} from '../harness/s3.js'

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function listAll(client: Client, bucket: string): Promise<BucketItem[]> {
  return new Promise((resolve, reject) => {
    const items: BucketItem[] = []
    client.listObjectsV2(bucket, '', true)
      .on('data', (item: BucketItem) => items.push(item))
      .on('error', reject)
      .on('end', () => resolve(items))
  })
}

it('s3', async (ctx) => {
  const started = performance.now()
  const s3 = await startS3()
  console.log(`timing: minio ready in ${Math.round(performance.now() - started)} ms`)
  try {
    // Plain S3 settings (endpoint, path-style, region, keys): what any S3 provider takes.
    const client = new Client({
      endPoint: s3.host,
      port: s3.port,
      useSSL: false,
      pathStyle: true,
      region: s3.region,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
    })
    const bucket = 'shing-conformance'
    const name = 'recordings/segment.bin'
    const body = randomBytes(10 * 1024 * 1024)

    await client.makeBucket(bucket, s3.region)
    await client.putObject(bucket, name, body, body.length, {'Content-Type': 'application/octet-stream'})
    expect(sha256(await readAll(await client.getObject(bucket, name)))).toBe(sha256(body))

    const listed = await listAll(client, bucket)
    expect(listed.map((item) => [item.name, item.size])).toEqual([[name, body.length]])

    // A presigned URL must work for a client that holds no keys: plain fetch.
    const url = await client.presignedGetObject(bucket, name, 60)
    const response = await fetch(url)
    expect(response.status).toBe(200)
    expect(sha256(new Uint8Array(await response.arrayBuffer()))).toBe(sha256(body))

    markReal(ctx, 's3', s3.version)
  } finally {
    await s3.stop()
  }
})

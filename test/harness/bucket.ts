/**
 * A bucket as a test seeds and reads it: objects that look as old as the test needs (MinIO takes
 * an object's last-modified time from x-minio-source-mtime, as its own replication sets it, when
 * the root user writes), and the bucket's keys as a set to compare.
 */
import type {Client} from 'minio'

/** Puts an object whose last-modified time (what S3 lists) is `at`. */
export async function putObjectAt(minio: Client, bucket: string, key: string, body: Buffer | string, at: Date): Promise<void> {
  const data = typeof body === 'string' ? Buffer.from(body) : body
  const answer = await minio.makeRequestAsync(
    {method: 'PUT', bucketName: bucket, objectName: key, headers: {'content-length': String(data.length), 'x-minio-source-mtime': at.toISOString()}},
    data,
  )
  answer.resume()
}

/** Every key in the bucket, sorted. */
export async function bucketKeys(minio: Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = []
  for await (const item of minio.listObjectsV2(bucket, prefix, true)) {
    const name = (item as {name?: string}).name
    if (name !== undefined) keys.push(name)
  }
  return keys.sort()
}

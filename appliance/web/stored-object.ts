/**
 * One S3 object sent to a browser or player through the web: its size, type, cache policy, and
 * one byte range when asked (206, or 416 past its end). With `etag`, a revalidation of the same
 * object gets 304, and a download resumed with If-Range after it was made again gets all of it.
 */
import type {FastifyReply, FastifyRequest} from 'fastify'
import {combineRanges, parse as parseRange} from 'range-parser'

import {isMissingObject, type Storage} from '../platform/storage.js'

export interface StoredObjectOptions {
  type: string
  cacheControl: string
  /** Extra headers (e.g. content-disposition for a download). */
  headers?: Record<string, string>
  /** Send the object's ETag, and honour If-Range with it. */
  etag?: boolean
}

/** Sends the object (200, or 206 for one byte range, 416 past its end), or 404 when there is none. */
export async function sendStoredObject(storage: Storage, key: string, request: FastifyRequest, reply: FastifyReply, options: StoredObjectOptions): Promise<FastifyReply> {
  let size: number
  let etag: string
  try {
    const stat = await storage.client.statObject(storage.bucket, key)
    size = stat.size
    etag = `"${stat.etag}"`
  } catch (error) {
    if (isMissingObject(error)) return reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    throw error
  }
  reply.type(options.type).header('cache-control', options.cacheControl).header('accept-ranges', 'bytes')
  for (const [name, value] of Object.entries(options.headers ?? {})) reply.header(name, value)
  const ifRange = request.headers['if-range']
  if (options.etag === true) {
    reply.header('etag', etag)
    // Revalidated and unchanged: nothing to send again.
    if (request.headers['if-none-match'] === etag) return reply.code(304).send()
  }
  const asked = options.etag === true && ifRange !== undefined && ifRange !== etag ? undefined : request.headers.range
  const ranges = asked === undefined ? undefined : parseRange(size, asked)
  // A malformed Range is ignored, as HTTP allows; several disjoint ranges get the whole object.
  if (ranges !== undefined && ranges.type === 'bytes' && (ranges.code & 1) === 0) {
    const combined = combineRanges(ranges.ranges)
    const [only] = combined
    if (only === undefined && size !== 0) return reply.code(416).header('content-range', `bytes */${size}`).header('content-length', 0).send()
    if (only !== undefined && combined.length === 1) {
      const length = only.end - only.start + 1
      const body = await storage.client.getPartialObject(storage.bucket, key, only.start, length)
      return reply.code(206).header('content-range', `bytes ${only.start}-${only.end}/${size}`).header('content-length', length).send(body)
    }
  }
  return reply.header('content-length', size).send(await storage.client.getObject(storage.bucket, key))
}

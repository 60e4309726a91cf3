/**
 * A channel's images (avatar, banner, offline picture): what a streamer uploads is decoded and
 * drawn again at one size as WebP (so nothing of the file's own survives: no metadata, no
 * trailing bytes, no second format), stored in S3 under a name that carries its content's hash,
 * and served by the web under /media/ to be cached for good.
 */
import {createHash} from 'node:crypto'

import type {FastifyInstance} from 'fastify'
import sharp, {type ResizeOptions} from 'sharp'

import {CHANNEL_PATTERN} from '../contract/index.js'
import {isMissingObject, type Storage} from '../platform/storage.js'
import {IMMUTABLE} from '../web/assets.js'

export const CHANNEL_IMAGES = {
  avatar: {label: 'Avatar', width: 256, height: 256},
  banner: {label: 'Banner', width: 1600, height: 400},
  offline: {label: 'Offline image', width: 1280, height: 720},
} as const

export type ChannelImageKind = keyof typeof CHANNEL_IMAGES

export const isChannelImageKind = (kind: string): kind is ChannelImageKind => Object.hasOwn(CHANNEL_IMAGES, kind)

/** The largest upload taken; the rest of a larger one is read and dropped, never kept. */
export const IMAGE_UPLOAD_LIMIT_BYTES = 8 * 1024 * 1024
/** A decoded picture larger than this (a "decompression bomb") is refused before it is drawn. */
const MAX_INPUT_PIXELS = 50_000_000
export const ACCEPTED_IMAGES = 'JPEG, PNG, WebP or GIF'
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif'])

/** What a person can fix about an upload: the page shows it beside the file field. */
export class ImageUploadError extends Error {
  override name = 'ImageUploadError'
}

export const tooLargeMessage = `That file is larger than ${IMAGE_UPLOAD_LIMIT_BYTES / 1024 / 1024} MB: upload a ${ACCEPTED_IMAGES} image up to ${IMAGE_UPLOAD_LIMIT_BYTES / 1024 / 1024} MB.`
const notAnImageMessage = `That file is not an image this site takes: upload a ${ACCEPTED_IMAGES} image.`

/** The upload drawn at the kind's size (cropped to fill it) as WebP, upright, without metadata. */
export async function renderChannelImage(kind: ChannelImageKind, upload: Buffer): Promise<Buffer> {
  const size = CHANNEL_IMAGES[kind]
  return (await renderUploadedImage(upload, {width: size.width, height: size.height, fit: 'cover', position: 'attention'})).data
}

/**
 * An upload checked (a format taken, not too many pixels) and drawn again as WebP at this size,
 * upright, without metadata: the one path every uploaded picture takes (channel images, posts).
 */
export async function renderUploadedImage(upload: Buffer, resize: ResizeOptions): Promise<{data: Buffer; width: number; height: number}> {
  let format: string | undefined
  try {
    format = (await sharp(upload, {limitInputPixels: MAX_INPUT_PIXELS}).metadata()).format
  } catch {
    // sharp says "unsupported image format" in its own words: the person gets ours.
    throw new ImageUploadError(notAnImageMessage)
  }
  if (format === undefined || !ACCEPTED_FORMATS.has(format)) throw new ImageUploadError(notAnImageMessage)
  try {
    // An animated GIF or WebP gives its first frame; metadata is not kept (no withMetadata).
    const {data, info} = await sharp(upload, {limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', autoOrient: true})
      .resize(resize)
      .webp({quality: 82})
      .toBuffer({resolveWithObject: true})
    return {data, width: info.width, height: info.height}
  } catch (error) {
    const message = (error as Error).message
    if (/pixel limit/i.test(message)) throw new ImageUploadError(`That image is too large to draw (over ${MAX_INPUT_PIXELS / 1_000_000} megapixels): upload a smaller one.`)
    throw new ImageUploadError(`That image could not be read (it may be damaged): upload another ${ACCEPTED_IMAGES} image.`)
  }
}

/** channels/<name>/<kind>-<hash>.webp: a new picture is a new name, so every name may be cached for good. */
const OBJECT_NAME = /^(avatar|banner|offline)-[0-9a-f]{16}\.webp$/
export const imageObjectName = (kind: ChannelImageKind, image: Buffer): string => `${kind}-${createHash('sha256').update(image).digest('hex').slice(0, 16)}.webp`
const imageKey = (channel: string, object: string): string => `channels/${channel}/${object}`

/** Where pages load a channel's image from. */
export const channelImageUrl = (channel: string, object: string): string => `/media/channels/${encodeURIComponent(channel)}/${encodeURIComponent(object)}`

export async function storeChannelImage(storage: Storage, channel: string, object: string, image: Buffer): Promise<void> {
  await storage.client.putObject(storage.bucket, imageKey(channel, object), image, image.length, {'Content-Type': 'image/webp', 'Cache-Control': IMMUTABLE})
}

export async function deleteChannelImage(storage: Storage, channel: string, object: string): Promise<void> {
  await storage.client.removeObject(storage.bucket, imageKey(channel, object))
}

/** GET /media/channels/<channel>/<object>: the stored image, cacheable for a year. */
export async function channelMediaRoutes(app: FastifyInstance, options: {storage: Storage}): Promise<void> {
  const {storage} = options
  app.get<{Params: {channel: string; object: string}}>('/media/channels/:channel/:object', async (request, reply) => {
    const {channel, object} = request.params
    const missing = (): unknown => reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    if (!CHANNEL_PATTERN.test(channel) || !OBJECT_NAME.test(object)) return missing()
    const key = imageKey(channel, object)
    let size: number
    try {
      size = (await storage.client.statObject(storage.bucket, key)).size
    } catch (error) {
      if (isMissingObject(error)) return missing()
      throw error
    }
    return reply
      .type('image/webp')
      .header('cache-control', IMMUTABLE)
      .header('content-length', size)
      .send(await storage.client.getObject(storage.bucket, key))
  })
}

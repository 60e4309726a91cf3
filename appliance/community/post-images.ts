/**
 * A post's pictures: each upload goes the channel images' way (channels/images.ts: checked,
 * drawn again as WebP without metadata) at most POST_IMAGE_SIDE pixels on its longer side, stored
 * under posts/<postId>/ by its content's hash, and served under the post's own address
 * (/c/<channel>/posts/<id>/images/<object>) so that a disabled channel's pictures go with its pages.
 */
import {createHash} from 'node:crypto'

import {renderUploadedImage} from '../channels/images.js'
import {listObjectNames, removeObjectNames, type Storage} from '../platform/storage.js'
import {IMMUTABLE} from '../web/assets.js'
import type {PostDoc, PostImage} from './posts.js'

/** The longer side of a post's picture, in pixels: sharp on a phone, small enough for a timeline. */
export const POST_IMAGE_SIDE = 1600
export const POST_IMAGE_OBJECT = /^[0-9a-f]{16}\.webp$/

export const postImagePrefix = (postId: string): string => `posts/${postId}/`

/** The upload drawn again at most POST_IMAGE_SIDE wide and high (never enlarged), as WebP. */
export async function renderPostImage(upload: Buffer): Promise<{data: Buffer; width: number; height: number}> {
  return renderUploadedImage(upload, {width: POST_IMAGE_SIDE, height: POST_IMAGE_SIDE, fit: 'inside', withoutEnlargement: true})
}

/** Stores a drawn picture under the post; the same picture twice is one object (its hash names it). */
export async function storePostImage(storage: Storage, postId: string, image: {data: Buffer; width: number; height: number}): Promise<PostImage> {
  const key = `${postImagePrefix(postId)}${createHash('sha256').update(image.data).digest('hex').slice(0, 16)}.webp`
  await storage.client.putObject(storage.bucket, key, image.data, image.data.length, {'Content-Type': 'image/webp', 'Cache-Control': IMMUTABLE})
  return {key, width: image.width, height: image.height}
}

/** Where a page loads a post's picture from. */
export const postImageUrl = (post: Pick<PostDoc, '_id' | 'channel'>, image: PostImage): string =>
  `/c/${encodeURIComponent(post.channel)}/posts/${post._id.toHexString()}/images/${encodeURIComponent(image.key.slice(image.key.lastIndexOf('/') + 1))}`

export async function removePostImages(storage: Storage, keys: readonly string[]): Promise<void> {
  if (keys.length > 0) await removeObjectNames(storage, keys)
}

/** Everything under the post's prefix (a deleted post leaves nothing, not even an upload its save never named). */
export async function removeAllPostImages(storage: Storage, postId: string): Promise<void> {
  await removeObjectNames(storage, await listObjectNames(storage, postImagePrefix(postId)))
}

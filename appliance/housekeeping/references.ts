/**
 * What keeps an object in the bucket: one rule per kind of key in the bucket's layout, each saying
 * which documents point at it. Pure — the run reads the References from MongoDB
 * (gather-references.ts) and asks here about each object. A new kind of object (a post's images)
 * adds its rule to `rules` and what points at it to References; nothing else changes.
 *
 * A key that no rule knows is never removed: housekeeping removes only what it knows nothing
 * points at.
 */
import {CHANNEL_PATTERN} from '../contract/index.js'

/** What the documents point at, as far as the bucket is concerned. */
export interface References {
  /**
   * `<channel>/<streamId>` of every broadcast whose archive (dvr/<channel>/<streamId>/…) stays: one
   * with a VOD, one whose archive was not deleted on purpose (live, being finalized, or never
   * finalized), one a clip is being cut from.
   */
  archives: ReadonlySet<string>
  /** clipId of every clip: its own objects (clips/<clipId>/…) stay. */
  clips: ReadonlySet<string>
  /** Archive objects a clip's HLS form plays (a clip's segmentKeys): they stay when their VOD goes. */
  clipSegments: ReadonlySet<string>
  /** Every channel's name: its live thumbnail (thumbs/live/<channel>.jpg) stays. */
  channels: ReadonlySet<string>
  /** `channels/<channel>/<object>` of every image a channel document names (avatar, banner, offline). */
  channelImages: ReadonlySet<string>
  /** `posts/<postId>/<object>` of every picture a post names (a picture removed in an edit, or left by a failed save, is not). */
  postImages: ReadonlySet<string>
}

export const bucketObjectKinds = ['archive', 'clip', 'live-thumbnail', 'channel-image', 'post-image'] as const
export type BucketObjectKind = (typeof bucketObjectKinds)[number]

interface ReferenceRule {
  kind: BucketObjectKind
  /** Matches the keys of this kind; its groups are what `referenced` reads. */
  key: RegExp
  referenced(match: RegExpExecArray, key: string, refs: References): boolean
}

const STREAM_ID = '[A-Za-z0-9_-]{1,64}'
const CHANNEL = CHANNEL_PATTERN.source.replace(/^\^|\$$/g, '')

const rules: readonly ReferenceRule[] = [
  {
    // dvr/<channel>/<streamId>/…: the broadcast's archive and what is derived from it (download, previews).
    kind: 'archive',
    key: new RegExp(`^dvr/(${CHANNEL})/(${STREAM_ID})/.+`),
    referenced: ([, channel, streamId], key, refs) => refs.archives.has(`${channel}/${streamId}`) || refs.clipSegments.has(key),
  },
  {
    // clips/<clipId>/…: clip.mp4, index.m3u8, poster.jpg.
    kind: 'clip',
    key: /^clips\/([a-z0-9]{1,64})\/.+/,
    referenced: ([, clipId], _key, refs) => refs.clips.has(clipId!),
  },
  {
    kind: 'live-thumbnail',
    key: new RegExp(`^thumbs/live/(${CHANNEL})\\.jpg$`),
    referenced: ([, channel], _key, refs) => refs.channels.has(channel!),
  },
  {
    // channels/<channel>/<kind>-<hash>.webp (channels/images.ts): a replaced image is a new name.
    kind: 'channel-image',
    key: new RegExp(`^channels/(${CHANNEL})/[^/]+$`),
    referenced: (_match, key, refs) => refs.channelImages.has(key),
  },
  {
    // posts/<postId>/<hash>.webp (community/post-images.ts).
    kind: 'post-image',
    key: /^posts\/[0-9a-f]{24}\/[^/]+$/,
    referenced: (_match, key, refs) => refs.postImages.has(key),
  },
]

/** An object's kind and whether anything points at it; undefined for a key no rule knows (kept). */
export function classifyObject(key: string, refs: References): {kind: BucketObjectKind; referenced: boolean} | undefined {
  for (const rule of rules) {
    const match = rule.key.exec(key)
    if (match !== null) return {kind: rule.kind, referenced: rule.referenced(match, key, refs)}
  }
  return undefined
}

/**
 * Reads from MongoDB what points at objects in the bucket (references.ts says what each kind of
 * object needs). Any error reading throws: an object is never judged an orphan on a partial view.
 */
import type {Db} from 'mongodb'

import type {ChannelDoc} from '../channels/channels.js'
import {STREAMS_COLLECTION, type StreamDoc} from '../channels/stream-state.js'
import {CHANNELS_COLLECTION} from '../channels/stream-keys.js'
import {CLIPS_COLLECTION, type ClipDoc} from '../clips/clips.js'
import {POSTS_COLLECTION, type PostDoc} from '../community/posts.js'
import {VODS_COLLECTION, type VodDoc} from '../vods/vods.js'
import type {References} from './references.js'

export async function gatherReferences(db: Db): Promise<References> {
  const archives = new Set<string>()
  const clips = new Set<string>()
  const clipSegments = new Set<string>()
  const channels = new Set<string>()
  const channelImages = new Set<string>()

  for await (const vod of db.collection<VodDoc>(VODS_COLLECTION).find({}, {projection: {_id: 0, channel: 1, streamId: 1}})) {
    archives.add(`${vod.channel}/${vod.streamId}`)
  }
  // Every broadcast whose archive was not deleted on purpose: live, being finalized, or whose
  // dvr.finalize failed for good (an admin can retry it: the recording must still be there).
  for await (const stream of db.collection<StreamDoc>(STREAMS_COLLECTION).find({archiveDeleted: {$ne: true}}, {projection: {_id: 0, channel: 1, streamId: 1}})) {
    archives.add(`${stream.channel}/${stream.streamId}`)
  }
  for await (const clip of db.collection<ClipDoc>(CLIPS_COLLECTION).find({}, {projection: {_id: 0, clipId: 1, channel: 1, streamId: 1, status: 1, segmentKeys: 1}})) {
    clips.add(clip.clipId)
    for (const key of clip.segmentKeys ?? []) clipSegments.add(key)
    // Its segments are not chosen yet: the whole archive stays until they are.
    if (clip.status === 'pending') archives.add(`${clip.channel}/${clip.streamId}`)
  }
  // channels/<name>/<object>, as channels/images.ts stores them (not imported: it loads sharp).
  for await (const channel of db.collection<ChannelDoc>(CHANNELS_COLLECTION).find({}, {projection: {_id: 0, name: 1, images: 1}})) {
    channels.add(channel.name)
    for (const object of Object.values(channel.images ?? {})) if (object !== undefined) channelImages.add(`channels/${channel.name}/${object}`)
  }
  const postImages = new Set<string>()
  for await (const post of db.collection<PostDoc>(POSTS_COLLECTION).find({}, {projection: {_id: 0, images: 1}})) {
    for (const image of post.images ?? []) postImages.add(image.key)
  }
  return {archives, clips, clipSegments, channels, channelImages, postImages}
}

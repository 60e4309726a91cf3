/**
 * What the front page shows: who is live (newest first, with their titles, categories and
 * avatars) and the latest past
 * broadcasts. Built from the live sweep (no Redis round trip per request) and two indexed MongoDB
 * queries, and kept for a couple of seconds, so that a busy front page costs MongoDB a query
 * or two per interval, however many visitors ask.
 */
import type {Redis} from 'ioredis'
import type {Db} from 'mongodb'

import type {Logger} from '../platform/logger.js'
import {countViewers} from '../relay/audience.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {VODS_COLLECTION, vodPage, vodPreviewUrls, type VodDoc} from '../vods/vods.js'
import type {ChannelCategory} from '../contract/index.js'
import {Channels} from './channels.js'
import {channelImageUrl} from './images.js'
import {LiveThumbnails} from './live-thumbnails.js'
import type {LiveStates} from './stream-state.js'

/** What each list shows of a channel besides its name. */
interface Shown {
  title?: string
  category?: ChannelCategory
  /** Where its avatar loads from. */
  avatar?: string
}

export interface FrontPage {
  /** Most watched first. */
  /** thumbnail: the broadcast's latest picture, once the worker took one. */
  live: Array<{channel: string; since: string; viewers?: number; thumbnail?: string} & Shown>
  /** poster: once the worker made it. */
  recent: Array<{channel: string; page: string; startedAt: string; durationSeconds: number; poster?: string} & Shown>
}

export const FRONT_PAGE_TTL_MS = 2000
const LIVE_LIMIT = 100
const RECENT_LIMIT = 12

export class FrontPageData {
  private readonly cache = new TtlCache<'front', FrontPage>(FRONT_PAGE_TTL_MS, 1)
  private readonly channels: Channels
  private readonly thumbnails: LiveThumbnails

  constructor(
    private readonly db: Db,
    private readonly redis: Redis,
    private readonly liveStates: LiveStates,
    private readonly log: Logger,
  ) {
    this.channels = new Channels(db)
    this.thumbnails = new LiveThumbnails(redis, log)
  }

  get(): Promise<FrontPage> {
    return this.cache.get('front', () => this.build())
  }

  private async build(): Promise<FrontPage> {
    const states = this.liveStates.all()
    const [watched, thumbnails] = await Promise.all([this.mostWatched(states), this.thumbnails.urls(states)])
    const live = watched.map((s) => {
      const thumbnail = thumbnails.get(s.channel)
      return thumbnail === undefined ? s : {...s, thumbnail}
    })
    try {
      const recentDocs = await this.db.collection<VodDoc>(VODS_COLLECTION).find({}).sort({createdAt: -1}).limit(RECENT_LIMIT).toArray()
      const names = [...new Set([...live.map((s) => s.channel), ...recentDocs.map((v) => v.channel)])]
      const cards = await this.channels.cards(names)
      // A disabled channel has no card: it is in no list.
      const listed = (row: {channel: string}): boolean => cards.has(row.channel)
      const shown = (name: string): Shown => {
        const card = cards.get(name)
        const avatar = card?.images?.avatar
        return {
          ...(card?.title === undefined ? {} : {title: card.title}),
          ...(card?.category === undefined ? {} : {category: card.category}),
          ...(avatar === undefined ? {} : {avatar: channelImageUrl(name, avatar)}),
        }
      }
      return {
        live: live.filter(listed).map((s) => ({...s, ...shown(s.channel)})),
        recent: recentDocs.filter(listed).map((v) => ({
          channel: v.channel,
          page: vodPage(v.channel, v.streamId),
          startedAt: v.createdAt.toISOString(),
          durationSeconds: v.durationSeconds,
          ...(v.previews === undefined ? {} : {poster: vodPreviewUrls(v.channel, v.streamId).poster}),
          ...shown(v.channel),
        })),
      }
    } catch (error) {
      // MongoDB away: who is live still shows (without titles).
      this.log.warn({err: (error as Error).message}, 'front page without titles or past broadcasts: MongoDB unavailable')
      return {live, recent: []}
    }
  }

  /** The live channels, most watched first (newest first among equals); without counts when Redis is away. */
  private async mostWatched(states: ReturnType<LiveStates['all']>): Promise<FrontPage['live']> {
    const live = states.map((s) => ({channel: s.channel, since: s.since}))
    let counts: Map<string, number>
    try {
      counts = await countViewers(this.redis, live.map((s) => s.channel))
    } catch (error) {
      this.log.warn({err: (error as Error).message}, 'front page without viewer counts: Redis unavailable')
      return live.slice(0, LIVE_LIMIT)
    }
    return live
      .map((s) => ({...s, viewers: counts.get(s.channel) ?? 0}))
      .sort((a, b) => b.viewers - a.viewers)
      .slice(0, LIVE_LIMIT)
  }
}

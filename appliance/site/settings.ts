/**
 * Site settings that belong in the database rather than in shing.yaml, changed by admins in the
 * admin area: the site's title, how people may sign up, and the rules text. Read through a short
 * cache (every page shows the title); a change shows on every web replica within that time.
 */
import {createHash, randomBytes} from 'node:crypto'

import type {Collection, Db} from 'mongodb'

import {TtlCache} from '../platform/ttl-cache.js'

export const registrationModes = ['open', 'approval', 'invite', 'closed'] as const
export type RegistrationMode = (typeof registrationModes)[number]

export const SETTINGS_COLLECTION = 'settings'
export const INVITES_COLLECTION = 'invites'
export const SITE_TITLE_MAX = 80
export const RULES_MAX = 5000
/** How many channels one account may own: 1 unless an admin allows more. */
export const CHANNELS_PER_ACCOUNT_MAX = 20
const CACHE_MS = 3000

export interface SiteSettingsView {
  /** Shown in every page's header and title; the public hostname when unset. */
  title: string
  registration: RegistrationMode
  rules: string
  channelsPerAccount: number
}

interface SettingsDoc {
  _id: 'site'
  title?: string
  registration?: RegistrationMode
  rules?: string
  channelsPerAccount?: number
  updatedAt?: Date
}

interface InviteDoc {
  /** SHA-256 of the code: a database dump gives no one a code that works. */
  hash: string
  createdBy: string
  createdAt: Date
  usedBy?: string
  usedAt?: Date
}

const hashInvite = (code: string): string => createHash('sha256').update(code.trim()).digest('hex')

export class SiteSettings {
  private readonly settings: Collection<SettingsDoc>
  private readonly invites: Collection<InviteDoc>
  private readonly cache = new TtlCache<'site', SiteSettingsView>(CACHE_MS, 1)

  constructor(
    db: Db,
    /** The title when none is set: the site's public hostname. */
    private readonly defaultTitle: string,
  ) {
    this.settings = db.collection<SettingsDoc>(SETTINGS_COLLECTION)
    this.invites = db.collection<InviteDoc>(INVITES_COLLECTION)
  }

  /** The settings; the defaults (open sign-up, the hostname as title) when MongoDB cannot say. */
  get(): Promise<SiteSettingsView> {
    return this.cache
      .get('site', async () => {
        const doc = await this.settings.findOne({_id: 'site'})
        return {title: doc?.title || this.defaultTitle, registration: doc?.registration ?? 'open', rules: doc?.rules ?? '', channelsPerAccount: doc?.channelsPerAccount ?? 1}
      })
      .catch(() => ({title: this.defaultTitle, registration: 'open' as const, rules: '', channelsPerAccount: 1}))
  }

  async update(change: {title: string; registration: RegistrationMode; rules: string; channelsPerAccount: number}): Promise<void> {
    await this.settings.updateOne(
      {_id: 'site'},
      {$set: {title: change.title.trim(), registration: change.registration, rules: change.rules.trim(), channelsPerAccount: change.channelsPerAccount, updatedAt: new Date()}},
      {upsert: true},
    )
    this.cache.forget('site')
  }

  /** A new invite code (shown once). */
  async createInvite(createdBy: string): Promise<string> {
    const code = randomBytes(12).toString('base64url')
    await this.invites.insertOne({hash: hashInvite(code), createdBy, createdAt: new Date()})
    return code
  }

  /** True when the code exists and is unused (useInvite decides for good). */
  async inviteValid(code: string): Promise<boolean> {
    if (code.trim() === '') return false
    return (await this.invites.findOne({hash: hashInvite(code), usedAt: {$exists: false}}, {projection: {_id: 1}})) !== null
  }

  /** Uses up an invite code for `username`: false when it is unknown or used. */
  async useInvite(code: string, username: string): Promise<boolean> {
    if (code.trim() === '') return false
    const result = await this.invites.updateOne({hash: hashInvite(code), usedAt: {$exists: false}}, {$set: {usedBy: username, usedAt: new Date()}})
    return result.modifiedCount === 1
  }

  unusedInvites(): Promise<number> {
    return this.invites.countDocuments({usedAt: {$exists: false}})
  }
}

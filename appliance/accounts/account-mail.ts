/** The mail an account gets, each with its one-time link (mail-links.ts), handed to the outbox. */
import type {Outbox} from '../mail/mailer.js'
import {emailChangedNotice, emailChangeMail, passwordResetMail, verificationMail} from '../mail/templates.js'
import type {SiteSettings} from '../site/settings.js'
import {mailLinkKinds, passwordStamp, type MailLinks} from './mail-links.js'
import type {UserDoc, Viewer} from './users.js'

/** Why an account may not make stream keys yet, in words with the fix. */
export const CONFIRM_EMAIL_FIRST = 'Confirm your e-mail address first: follow the link we mailed you, or send a new one from your account page.'

export class AccountMail {
  constructor(
    private readonly links: MailLinks,
    private readonly outbox: Outbox,
    private readonly settings: SiteSettings,
    private readonly publicUrl: string,
  ) {}

  /** false on a site without SMTP: nothing is mailed and addresses need no confirming. */
  get enabled(): boolean {
    return this.outbox.enabled
  }

  /** Going live needs a confirmed address on a site that mails (undefined: allowed; else why not). */
  goLiveRefusal(viewer: Viewer): string | undefined {
    return this.enabled && !viewer.emailVerified ? CONFIRM_EMAIL_FIRST : undefined
  }

  private url(path: string, token: string): string {
    return `${this.publicUrl.replace(/\/$/, '')}${path}?token=${token}`
  }

  private async site(): Promise<string> {
    return (await this.settings.get()).title
  }

  async sendVerification(user: UserDoc): Promise<void> {
    if (!this.enabled) return
    const token = await this.links.create('verify', {userId: user._id.toHexString(), email: user.email})
    const hours = mailLinkKinds.verify.ttlSeconds / 3600
    await this.outbox.send(verificationMail({to: user.email, site: await this.site(), username: user.username, url: this.url('/verify-email', token), hours}))
  }

  async sendReset(user: UserDoc): Promise<void> {
    if (!this.enabled) return
    const token = await this.links.create('reset', {userId: user._id.toHexString(), email: user.email, stamp: passwordStamp(user.passwordHash)})
    const minutes = mailLinkKinds.reset.ttlSeconds / 60
    await this.outbox.send(passwordResetMail({to: user.email, site: await this.site(), username: user.username, url: this.url('/reset', token), minutes}))
  }

  async sendEmailChange(user: UserDoc, newEmail: string): Promise<void> {
    if (!this.enabled) return
    const token = await this.links.create('email-change', {userId: user._id.toHexString(), email: newEmail})
    const hours = mailLinkKinds['email-change'].ttlSeconds / 3600
    await this.outbox.send(emailChangeMail({to: newEmail, site: await this.site(), username: user.username, url: this.url('/verify-email/change', token), hours}))
  }

  /** To the old address, after a change: its owner learns of it even if someone else did it. */
  async sendEmailChanged(user: UserDoc, newEmail: string): Promise<void> {
    if (!this.enabled) return
    await this.outbox.send(emailChangedNotice({to: user.email, site: await this.site(), username: user.username, newAddress: newEmail}))
  }
}

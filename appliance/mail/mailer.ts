/**
 * Account mail. The web puts a mail on the `mail.send` queue and answers at once; the worker sends
 * it over SMTP and retries while the server is away, so a slow or down mail server never holds a
 * page and no mail is lost to a restart. A site without SMTP (mail.mode: none) sends nothing, and
 * its accounts need no verification.
 */
import nodemailer, {type Transporter} from 'nodemailer'

import type {ComponentEnv, SmtpSecurity} from '../contract/index.js'
import type {JobData} from '../jobs/catalog.js'
import type {JobQueues} from '../jobs/queues.js'

export interface SmtpSettings {
  from: string
  host: string
  port: number
  security: SmtpSecurity
  user?: string
}

/** The SMTP settings from the environment, or undefined when this site sends no mail. */
export function smtpSettings(env: Pick<ComponentEnv, 'SHING_MAIL_FROM' | 'SHING_SMTP_HOST' | 'SHING_SMTP_PORT' | 'SHING_SMTP_SECURITY' | 'SHING_SMTP_USER'>): SmtpSettings | undefined {
  if (env.SHING_MAIL_FROM === undefined || env.SHING_SMTP_HOST === undefined) return undefined
  return {
    from: env.SHING_MAIL_FROM,
    host: env.SHING_SMTP_HOST,
    port: env.SHING_SMTP_PORT,
    security: env.SHING_SMTP_SECURITY,
    ...(env.SHING_SMTP_USER === undefined ? {} : {user: env.SHING_SMTP_USER}),
  }
}

export type Mail = JobData['mail.send']

/** Where the web hands mail over; `enabled` false means the site sends none. */
export interface Outbox {
  readonly enabled: boolean
  send(mail: Mail): Promise<void>
}

export function createOutbox(settings: SmtpSettings | undefined, jobs: JobQueues): Outbox {
  if (settings === undefined) return {enabled: false, send: async () => undefined}
  return {
    enabled: true,
    send: async (mail) => {
      await jobs.enqueue('mail.send', mail)
    },
  }
}

/** The worker's SMTP client (pooled: one connection carries many mails). */
export function createTransport(settings: SmtpSettings, password: string | undefined): Transporter {
  return nodemailer.createTransport({
    pool: true,
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    // starttls: refuse to send in the clear when the server does not offer the upgrade.
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    ...(settings.user === undefined ? {} : {auth: {user: settings.user, pass: password ?? ''}}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  })
}

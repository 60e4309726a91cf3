/**
 * Mailpit: a real SMTP server that keeps what it receives and shows it through an HTTP API, so a
 * test reads the mail a user would get and follows its link. It demands the log-in it is given
 * (an htpasswd file), as a provider's SMTP server does.
 */
import {realpath, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {secretFiles} from '../../appliance/contract/index.js'
import {commandOutput, requireTool} from './tools.js'
import {freePort, HarnessError, startProcess, tempDir, waitFor} from './process.js'

export interface ReceivedMail {
  id: string
  from: string
  to: string[]
  subject: string
  text: string
  html: string
}

export interface MailpitServer {
  readonly smtpPort: number
  /** http://127.0.0.1:PORT: the API (and UI). */
  readonly apiUrl: string
  readonly version: string
  readonly username: string
  readonly password: string
  /** Every mail received for `address`, newest first. */
  mailTo(address: string): Promise<ReceivedMail[]>
  /** Waits for the `count`th mail to `address` (default: the first) and returns the newest. */
  waitForMail(address: string, options?: {count?: number; timeoutMs?: number}): Promise<ReceivedMail>
  stop(): Promise<void>
}

interface MessageSummary {
  ID: string
  To: Array<{Address: string}>
}

export async function startMailpit(): Promise<MailpitServer> {
  const command = requireTool('mailpit')
  const openssl = requireTool('openssl')
  const [smtpPort, httpPort] = [await freePort(), await freePort()]
  const data = await tempDir('mailpit')
  const username = 'shing-test'
  const password = 'mail-password-for-tests'
  const authFile = path.join(data.dir, 'smtp-users')
  await writeFile(authFile, `${username}:${(await commandOutput(openssl, ['passwd', '-apr1', password])).trim()}\n`)
  const apiUrl = `http://127.0.0.1:${httpPort}`
  try {
    const server = await startProcess({
      name: 'mailpit',
      command,
      args: [
        '--smtp', `127.0.0.1:${smtpPort}`,
        '--listen', `127.0.0.1:${httpPort}`,
        '--database', path.join(data.dir, 'mailpit.db'),
        '--smtp-auth-file', authFile,
        // No TLS on 127.0.0.1: let the log-in travel in the clear.
        '--smtp-auth-allow-insecure',
        '--disable-version-check',
      ],
      ready: {probe: async () => (await fetch(`${apiUrl}/readyz`).catch(() => undefined))?.ok === true},
    })
    // A `go install` build calls itself "dev": the installed file is named by its version.
    const info = (await (await fetch(`${apiUrl}/api/v1/info`)).json()) as {Version?: string}
    const version = info.Version !== undefined && info.Version !== 'dev' ? info.Version : path.basename(await realpath(command)).replace(/^mailpit-/, '')
    const get = async <T>(apiPath: string): Promise<T> => {
      const answer = await fetch(`${apiUrl}${apiPath}`)
      if (!answer.ok) throw new HarnessError(`mailpit ${apiPath}: ${answer.status} ${await answer.text()}`)
      return (await answer.json()) as T
    }
    const mailTo = async (address: string): Promise<ReceivedMail[]> => {
      const list = await get<{messages: MessageSummary[]}>(`/api/v1/search?query=${encodeURIComponent(`to:"${address}"`)}`)
      const wanted = list.messages.filter((m) => m.To.some((t) => t.Address.toLowerCase() === address.toLowerCase()))
      return Promise.all(
        wanted.map(async ({ID}) => {
          const m = await get<{ID: string; From: {Address: string}; To: Array<{Address: string}>; Subject: string; Text: string; HTML: string}>(`/api/v1/message/${ID}`)
          return {id: m.ID, from: m.From.Address, to: m.To.map((t) => t.Address), subject: m.Subject, text: m.Text, html: m.HTML}
        }),
      )
    }
    return {
      smtpPort,
      apiUrl,
      version,
      username,
      password,
      mailTo,
      waitForMail: async (address, {count = 1, timeoutMs = 30_000} = {}) =>
        waitFor(`mail #${count} to ${address}`, async () => {
          const mails = await mailTo(address)
          return mails.length >= count ? mails[0] : undefined
        }, {timeoutMs, intervalMs: 250}),
      stop: async () => {
        await server.stop()
        await data.remove()
      },
    }
  } catch (error) {
    await data.remove()
    throw error
  }
}

/** The first link in a mail's text that starts with `prefix`. */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const link = new RegExp(`${escaped}\\S*`).exec(mail.text)?.[0]
  if (link === undefined) throw new HarnessError(`no link to ${prefix} in the mail "${mail.subject}":\n${mail.text}`)
  return link
}

/**
 * What a component needs to send its mail to this Mailpit: its SMTP password put where the
 * site's secrets are (`secretsDir`), and the environment that names the server.
 */
export async function mailpitEnv(mailpit: MailpitServer, secretsDir: string, from: string): Promise<Record<string, string>> {
  await writeFile(path.join(secretsDir, secretFiles.smtpPassword), mailpit.password)
  return {SHING_MAIL_FROM: from, SHING_SMTP_HOST: '127.0.0.1', SHING_SMTP_PORT: String(mailpit.smtpPort), SHING_SMTP_SECURITY: 'none', SHING_SMTP_USER: mailpit.username}
}

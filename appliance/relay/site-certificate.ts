/**
 * The site's certificate for the relay's own TLS port, fetched from the edge (tls.mode auto).
 * Caddy obtains and renews it and keeps its files readable by root alone; the edge serves its
 * certificate folder to the stack's network (templates/Caddyfile, `{{certificates}}`) to a caller
 * with the token. The relay keeps a copy where nginx reads it; relay-server.ts notices the change
 * and reloads nginx.
 */
import {createPrivateKey, X509Certificate} from 'node:crypto'
import {isIP} from 'node:net'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'
import type {Logger} from 'pino'

/** How often a relay that has no certificate yet asks (the edge may still be getting it). */
const FIRST_TRY_MS = 10_000
/** How often it asks once it has one: Caddy renews a month before expiry, so this is plenty. */
const RENEWAL_CHECK_MS = 10 * 60_000
const REQUEST_TIMEOUT_MS = 10_000

export interface CertificateSource {
  /** The edge's certificate folder, e.g. http://edge:2020 */
  url: string
  token: string
  /** The site's name (or address) the certificate must cover. */
  hostname: string
}

export interface SiteCertificate {
  cert: string
  key: string
  notAfter: Date
}

/** A name as Caddy's storage spells it in folder and file names (certmagic's StorageKeys.Safe). */
export function storageName(hostname: string): string {
  return hostname
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase()
    .trim()
    .replaceAll(' ', '_')
    .replaceAll('+', '_plus_')
    .replaceAll('*', 'wildcard_')
    .replaceAll(':', '-')
    .replaceAll('..', '')
    .replace(/[^\w@.-]/g, '')
}

interface Entry {
  name: string
  is_dir?: boolean
  mod_time?: string
}

/**
 * The newest valid certificate the edge holds for the hostname (one folder per issuer: Let's
 * Encrypt, ZeroSSL, Caddy's own CA for an IP address), or undefined when it has none yet.
 * Throws when the edge cannot be asked or refuses the token.
 */
export async function fetchSiteCertificate(source: CertificateSource, now = new Date()): Promise<SiteCertificate | undefined> {
  const base = source.url.replace(/\/+$/, '')
  const get = async (urlPath: string, json: boolean): Promise<Response | undefined> => {
    const response = await fetch(`${base}${urlPath}`, {
      headers: {authorization: `Bearer ${source.token}`, ...(json ? {accept: 'application/json'} : {})},
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    if (response.status === 404) {
      await response.body?.cancel()
      return undefined
    }
    if (response.status === 403) throw new Error(`the edge refuses the relay's token (403 from ${base}): the edge and the relays were not deployed from the same secrets; run shing up`)
    if (!response.ok) throw new Error(`the edge answered ${response.status} for ${urlPath}`)
    return response
  }
  const list = async (urlPath: string): Promise<Entry[]> => {
    const response = await get(urlPath, true)
    return response === undefined ? [] : ((await response.json()) as Entry[])
  }
  const name = storageName(source.hostname)
  const candidates: Array<{issuer: string; modified: number}> = []
  for (const issuer of (await list('/')).filter((e) => e.is_dir === true)) {
    const folder = issuer.name.replace(/\/$/, '')
    const files = await list(`/${encodeURIComponent(folder)}/${encodeURIComponent(name)}/`)
    const cert = files.find((f) => f.name === `${name}.crt`)
    if (cert !== undefined && files.some((f) => f.name === `${name}.key`)) candidates.push({issuer: folder, modified: Date.parse(cert.mod_time ?? '') || 0})
  }
  candidates.sort((a, b) => b.modified - a.modified)
  for (const {issuer} of candidates) {
    const file = (ext: string): Promise<string | undefined> =>
      get(`/${encodeURIComponent(issuer)}/${encodeURIComponent(name)}/${encodeURIComponent(`${name}.${ext}`)}`, false).then((r) => r?.text())
    const [cert, key] = await Promise.all([file('crt'), file('key')])
    if (cert === undefined || key === undefined) continue
    const checked = checkCertificate(cert, key, source.hostname, now)
    if (checked !== undefined) return checked
  }
  return undefined
}

/** The pair, when the key matches, the certificate is current and it covers the hostname. */
export function checkCertificate(cert: string, key: string, hostname: string, now = new Date()): SiteCertificate | undefined {
  try {
    const x509 = new X509Certificate(cert)
    if (!x509.checkPrivateKey(createPrivateKey(key))) return undefined
    const notAfter = new Date(x509.validTo)
    if (notAfter <= now || new Date(x509.validFrom) > now) return undefined
    const bare = hostname.replace(/^\[(.*)\]$/, '$1')
    const covers = isIP(bare) === 0 ? x509.checkHost(bare) !== undefined : x509.checkIP(bare) !== undefined
    return covers ? {cert, key, notAfter} : undefined
  } catch {
    return undefined
  }
}

/**
 * Keeps certFile/keyFile equal to the edge's newest certificate: asks every 10 s until there is
 * one, then every 10 min. One file for both (certFile === keyFile, which nginx takes: it sends
 * only the certificate) is replaced in one rename, so nginx never reads a new certificate with an
 * old key; two files are replaced one after the other, key first.
 */
export class SiteCertificateSync {
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private have: string | undefined
  private lastProblem: string | undefined

  constructor(
    private readonly source: CertificateSource,
    private readonly files: {certFile: string; keyFile: string},
    private readonly log: Logger,
    /** Called when a later check (not the first, in start) wrote new files. */
    private readonly onChange: () => void = () => undefined,
  ) {}

  /** One try now (the relay starts nginx after it), then on the timer. */
  async start(): Promise<void> {
    const [cert, key] = await Promise.all([this.files.certFile, this.files.keyFile].map((file) => readFile(file, 'utf8').catch(() => undefined)))
    if (this.files.certFile === this.files.keyFile) this.have = cert
    else this.have = cert === undefined || key === undefined ? undefined : this.content({cert, key})
    await this.sync()
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      void this.sync()
        .then((changed) => {
          if (changed && !this.stopped) this.onChange()
        })
        .finally(() => this.schedule())
    }, this.have === undefined ? FIRST_TRY_MS : RENEWAL_CHECK_MS)
    this.timer.unref()
  }

  /** True when new files were written. */
  async sync(): Promise<boolean> {
    let found: SiteCertificate | undefined
    try {
      found = await fetchSiteCertificate(this.source)
    } catch (error) {
      this.problem(`cannot fetch the site's certificate from the edge: ${(error as Error).message}`)
      return false
    }
    if (found === undefined) {
      this.problem(`the edge has no certificate for ${this.source.hostname} yet: the TLS port opens when it has`)
      return false
    }
    this.lastProblem = undefined
    const content = this.content(found)
    if (content === this.have) return false
    try {
      await mkdir(path.dirname(this.files.certFile), {recursive: true, mode: 0o700})
      await mkdir(path.dirname(this.files.keyFile), {recursive: true, mode: 0o700})
      if (this.files.certFile === this.files.keyFile) await replaceFile(this.files.certFile, content)
      else {
        await replaceFile(this.files.keyFile, found.key)
        await replaceFile(this.files.certFile, found.cert)
      }
    } catch (error) {
      this.problem(`cannot write the site's certificate to ${this.files.certFile}: ${(error as Error).message}`)
      return false
    }
    this.have = content
    this.log.info({hostname: this.source.hostname, notAfter: found.notAfter.toISOString()}, 'site certificate fetched from the edge')
    return true
  }

  /** What the files hold: the certificate and the key, or both in one file. */
  private content({cert, key}: {cert: string; key: string}): string {
    return this.files.certFile === this.files.keyFile ? `${cert.trimEnd()}\n${key.trimEnd()}\n` : `${cert}\u0000${key}`
  }

  /** Logged once per distinct problem, not every 10 s. */
  private problem(message: string): void {
    if (message === this.lastProblem) return
    this.lastProblem = message
    this.log.warn(message)
  }
}

async function replaceFile(file: string, content: string): Promise<void> {
  const aside = `${file}.new`
  await writeFile(aside, content, {mode: 0o600})
  await rename(aside, file)
}

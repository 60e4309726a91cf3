import {existsSync} from 'node:fs'
import {mkdir, readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import YAML from 'yaml'

import {configPaths} from '../config/files.js'
import {renderConfig} from '../config/render.js'
import {configSchema, type ShingConfig, type ShingConfigInput} from '../config/schema.js'
import {mergeSecrets, readExistingSecrets, renderSecrets} from '../config/secrets.js'
import type {Engine} from '../engine/engine.js'
import {AbortError} from '../errors.js'
import {chooseProfile, type ProfileChoice} from '../hardware/choose-profile.js'
import {detectHardware} from '../hardware/detect.js'
import {overlayEncryptionSupport} from '../hardware/kernel.js'
import {findProfile, loadProfiles} from '../hardware/profiles.js'
import {cliCommand} from '../lib/invocation.js'
import {toProblems} from '../lib/zod-issues.js'
import {fileSystemAbort, writeFileAtomic} from '../lib/write-file.js'
import {logger} from '../logger.js'
import type {Prompter} from './prompter.js'

const log = logger('init')

/** Everything init can be told; whatever is missing is asked (interactive) or defaulted (--yes). */
export interface InitAnswers {
  hostname?: string
  adminEmail?: string
  httpPort?: number
  httpsPort?: number
  rtmpPort?: number
  /** ports.relayHttps; 0: none (all video through the edge). */
  relayHttpsPort?: number
  /** ports.turn; 0: no TURN. */
  turnPort?: number
  /** ports.webrtc.announcedAddress, kept from the previous config. */
  webrtcAnnouncedAddress?: string
  webrtcPorts?: string
  tls?: 'auto' | 'none' | 'files'
  tlsCert?: string
  tlsKey?: string
  storage?: 'minio' | 's3'
  s3Endpoint?: string
  s3Region?: string
  s3Bucket?: string
  s3AccessKey?: string
  s3SecretKey?: string
  dataDir?: string
  profile?: string
  /** host[:port] of the SMTP server, or "none". */
  smtp?: string
  smtpSecurity?: 'starttls' | 'tls' | 'none'
  smtpUser?: string
  smtpPassword?: string
  mailFrom?: string
}

export interface InitOptions {
  dir: string
  /** Asked what it is (the report `shing hardware` shows); init itself runs nothing on it. */
  engine: Engine
  answers: InitAnswers
  force: boolean
  /** Absent: take defaults for everything not answered (--yes). */
  prompter?: Prompter
}

export interface InitResult {
  dir: string
  configFile: string
  secretsFile: string
  /** true when a shing.yaml was already there and --force rewrote it. */
  replaced: boolean
  secrets: {kept: string[]; generated: string[]; added: string[]}
  profile: {name: string; reason: string; adjustments: string[]; warnings: string[]}
  config: ShingConfig
  /** Choices init made for you that you may want to know about. */
  warnings: string[]
  next: string[]
}

/** This box's address as others see it: the first non-internal IPv4, else its name. */
export function detectPublicHost(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address
    }
  }
  return os.hostname()
}

function parseRange(range: string): {min: number; max: number} {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(range)
  if (m === null) throw new AbortError(`"${range}" is not a port range.`, ['Write it as MIN-MAX, e.g. --webrtc-ports 40000-40100'])
  return {min: Number(m[1]), max: Number(m[2])}
}

export async function initSite(options: InitOptions): Promise<InitResult> {
  const paths = configPaths(options.dir)
  const replaced = existsSync(paths.config)
  if (replaced && !options.force) {
    throw new AbortError(`${paths.config} already exists; nothing was changed.`, [
      'Edit it and run `shing config validate`, or rewrite it with `shing init --force` (secrets are kept)',
    ])
  }
  // Read the secrets first: if they are unreadable we stop before writing anything.
  const existingSecrets = await readExistingSecrets(paths.secrets)

  const [profiles, hardware] = await Promise.all([loadProfiles(), detectHardware({dataPath: options.answers.dataDir ?? '/var/lib/shing', engine: options.engine})])
  if (options.answers.profile !== undefined) findProfile(profiles, options.answers.profile)
  const detected = chooseProfile(hardware, profiles)

  // A re-init keeps what the admin set before: the old config's values are the defaults.
  const previous = replaced ? await readPreviousConfig(paths.config) : undefined
  const a: InitAnswers = {...(previous ? answersFromConfig(previous) : {}), ...definedOnly(options.answers)}
  const ask = options.prompter
  const hostDefault = detectPublicHost()
  if (ask) {
    a.hostname ??= await ask.text('Public hostname or IP address of this platform', hostDefault)
    a.adminEmail ??= await ask.text('Admin e-mail (certificate notices, first admin account)', defaultEmail(a.hostname))
    a.httpPort ??= await ask.number('HTTP port', 80)
    a.httpsPort ??= await ask.number('HTTPS port', 443)
    a.rtmpPort ??= await ask.number('RTMP port (OBS)', 1935)
    a.webrtcPorts ??= await ask.text('WebRTC port range (UDP and TCP, for calls)', '40000-40100')
    a.tls ??= await ask.choose(
      'TLS',
      [
        {value: 'auto', name: 'Automatic certificates', description: 'the hostname must resolve to this box, ports 80/443 reachable'},
        {value: 'none', name: 'None (plain HTTP)', description: 'a LAN, or a proxy in front that terminates TLS'},
        {value: 'files', name: 'My own certificate files'},
      ],
      defaultTls(a.hostname),
    )
    if (a.tls === 'files') {
      a.tlsCert ??= await ask.text('Certificate file (PEM, absolute path)')
      a.tlsKey ??= await ask.text('Private key file (PEM, absolute path)')
    }
    if (a.tls !== 'none') a.relayHttpsPort ??= await ask.number('HTTPS port viewers fetch live video from the relays on (0: all through the edge)', DEFAULT_RELAY_HTTPS_PORT, 0)
    a.storage ??= await ask.choose(
      'Object storage for recordings and clips',
      [
        {value: 'minio', name: 'Bundled MinIO on this box'},
        {value: 's3', name: 'An external S3-compatible endpoint'},
      ],
      'minio',
    )
    if (a.storage === 's3') {
      a.s3Endpoint ??= await ask.text('S3 endpoint URL', 'https://s3.amazonaws.com')
      a.s3Region ??= await ask.text('S3 region', 'us-east-1')
      a.s3Bucket ??= await ask.text('S3 bucket', 'shing')
      a.s3AccessKey ??= await ask.text('S3 access key')
      a.s3SecretKey ??= await ask.secret('S3 secret key')
    }
    a.smtp ??= await ask.text('SMTP server for account mail (host or host:port; "none": no mail, accounts need no verification)', 'none')
    if (a.smtp !== 'none') {
      a.smtpSecurity ??= await ask.choose(
        'SMTP connection',
        [
          {value: 'starttls', name: 'STARTTLS', description: 'port 587, most providers'},
          {value: 'tls', name: 'TLS from the start', description: 'port 465'},
          {value: 'none', name: 'Plain', description: 'a relay on your own network'},
        ],
        defaultSmtpSecurity(a.smtp),
      )
      a.smtpUser ??= await ask.text('SMTP username ("none" when the server wants no log-in)', 'none')
      if (a.smtpUser !== 'none') a.smtpPassword ??= await ask.secret('SMTP password')
      a.mailFrom ??= await ask.text('Sender of account mail', `${hostnameForFrom(a.hostname)}`)
    }
    a.dataDir ??= await ask.text('Data directory', '/var/lib/shing')
    a.profile ??= await ask.choose(
      `Hardware profile (detected: ${detected.profile.name} — ${detected.reason})`,
      profiles.map((p) => ({value: p.name, name: p.name, description: p.description})),
      detected.profile.name,
    )
  }

  const overlay = overlayEncryptionSupport()
  const hostname = a.hostname ?? hostDefault
  const tls = a.tls ?? defaultTls(hostname)
  const storage = a.storage ?? 'minio'
  if (storage === 's3' && (a.s3AccessKey === undefined || a.s3SecretKey === undefined)) {
    throw new AbortError('An external S3 needs its access and secret keys.', ['Pass --s3-access-key and --s3-secret-key'])
  }
  const mail = mailConfig(a, hostname)
  const choice: ProfileChoice = a.profile === undefined || a.profile === detected.profile.name
    ? detected
    : chooseProfile(hardware, profiles, a.profile)

  const input: ShingConfigInput = {
    version: 1,
    site: {hostname, adminEmail: a.adminEmail ?? defaultEmail(hostname)},
    ports: {
      http: a.httpPort ?? 80,
      https: a.httpsPort ?? 443,
      rtmp: a.rtmpPort ?? 1935,
      // Direct relay viewing needs a certificate: on by default with TLS, off without (a port
      // kept from the previous config goes with it; one given now is checked, and refused).
      ...relayHttps(tls === 'none' ? (options.answers.relayHttpsPort ?? 0) : (a.relayHttpsPort ?? DEFAULT_RELAY_HTTPS_PORT)),
      ...((a.turnPort ?? DEFAULT_TURN_PORT) === 0 ? {} : {turn: a.turnPort ?? DEFAULT_TURN_PORT}),
      webrtc: {...parseRange(a.webrtcPorts ?? '40000-40100'), ...(a.webrtcAnnouncedAddress === undefined ? {} : {announcedAddress: a.webrtcAnnouncedAddress})},
    },
    tls: tls === 'files' ? {mode: 'files', certFile: a.tlsCert ?? '', keyFile: a.tlsKey ?? ''} : {mode: tls},
    storage:
      storage === 's3'
        ? {kind: 's3', endpoint: a.s3Endpoint ?? '', region: a.s3Region ?? 'us-east-1', bucket: a.s3Bucket ?? 'shing', pathStyle: true}
        : {kind: 'minio', bucket: 'shing'},
    dataDir: a.dataDir ?? '/var/lib/shing',
    mail,
    hardware: {profile: choice.profile.name, ingestMaxLadders: choice.profile.ingest.maxLadders},
    // Settings init does not ask about survive a re-init.
    images: previous?.images ?? {},
    swarm: previous?.swarm ?? {encryptOverlay: overlay.works},
    ...(previous ? {components: previous.components, chat: previous.chat} : {}),
  }
  const parsed = configSchema.safeParse(input)
  if (!parsed.success) {
    const lines = toProblems(parsed.error.issues).map((p) => `${p.path}: ${p.message}`)
    throw new AbortError(`These answers do not make a valid config; nothing was written:\n${lines.join('\n')}`, [
      'Correct the flags or answers named above and run init again',
    ])
  }

  const merged = mergeSecrets(existingSecrets, {
    ...(a.s3AccessKey === undefined ? {} : {s3AccessKey: a.s3AccessKey}),
    ...(a.s3SecretKey === undefined ? {} : {s3SecretKey: a.s3SecretKey}),
    ...(a.smtpPassword === undefined || mail.mode === 'none' ? {} : {smtpPassword: a.smtpPassword}),
  })
  const write = async (file: string, run: () => Promise<unknown>, nothingChanged: string): Promise<void> => {
    try {
      await run()
    } catch (error) {
      throw fileSystemAbort(error, file, nothingChanged) ?? error
    }
  }
  await write(path.join(paths.dir, '.'), () => mkdir(paths.dir, {recursive: true}), 'nothing was written')
  // Secrets first: a config never points at secrets that were not written.
  await write(paths.secrets, () => writeFileAtomic(paths.secrets, renderSecrets(merged.secrets), 0o600), 'nothing was written')
  await write(
    paths.config,
    () => writeFileAtomic(paths.config, renderConfig(parsed.data)),
    `${paths.secrets} was written (its secrets are kept by the next init); ${paths.config} was ${replaced ? 'left as it was' : 'not written'}`,
  )
  log.info({dir: paths.dir, profile: choice.profile.name}, 'config written')

  return {
    dir: paths.dir,
    configFile: paths.config,
    secretsFile: paths.secrets,
    replaced,
    secrets: {kept: merged.kept, generated: merged.generated, added: merged.added},
    profile: {name: choice.profile.name, reason: choice.reason, adjustments: choice.adjustments, warnings: choice.warnings},
    warnings: previous === undefined && !overlay.works ? [`overlay encryption is off: ${overlay.why}`] : [],
    config: parsed.data,
    next: [`${cliCommand()} doctor --dir ${paths.dir}`, `${cliCommand()} up --dir ${paths.dir}`],
  }
}

/** Where viewers reach the relays directly unless told otherwise (with TLS). */
const DEFAULT_RELAY_HTTPS_PORT = 8443
/** Where TURN listens when init is not told: its IANA port. */
const DEFAULT_TURN_PORT = 3478

const relayHttps = (port: number): {relayHttps?: number} => (port === 0 ? {} : {relayHttps: port})

async function readPreviousConfig(file: string): Promise<ShingConfig | undefined> {
  const parsed = configSchema.safeParse(YAML.parse(await readFile(file, 'utf8')))
  if (!parsed.success) log.warn({file}, 'the existing config is not valid; init starts from the defaults')
  return parsed.success ? parsed.data : undefined
}

function answersFromConfig(c: ShingConfig): InitAnswers {
  return {
    hostname: c.site.hostname,
    adminEmail: c.site.adminEmail,
    httpPort: c.ports.http,
    httpsPort: c.ports.https,
    rtmpPort: c.ports.rtmp,
    // With tls none there was no choice to keep.
    ...(c.tls.mode === 'none' ? {} : {relayHttpsPort: c.ports.relayHttps ?? 0}),
    webrtcPorts: `${c.ports.webrtc.min}-${c.ports.webrtc.max}`,
    turnPort: c.ports.turn ?? 0,
    ...(c.ports.webrtc.announcedAddress === undefined ? {} : {webrtcAnnouncedAddress: c.ports.webrtc.announcedAddress}),
    tls: c.tls.mode,
    ...(c.tls.mode === 'files' ? {tlsCert: c.tls.certFile, tlsKey: c.tls.keyFile} : {}),
    storage: c.storage.kind,
    ...(c.storage.kind === 's3' ? {s3Endpoint: c.storage.endpoint, s3Region: c.storage.region, s3Bucket: c.storage.bucket} : {}),
    dataDir: c.dataDir,
    profile: c.hardware.profile,
    ...(c.mail.mode === 'smtp'
      ? {smtp: `${c.mail.host}:${c.mail.port}`, smtpSecurity: c.mail.security, smtpUser: c.mail.username ?? 'none', mailFrom: c.mail.from}
      : {smtp: 'none'}),
  }
}

/** The mail section from the answers: "none", or host[:port] with what goes with it. */
function mailConfig(a: InitAnswers, hostname: string): NonNullable<ShingConfigInput['mail']> {
  const smtp = (a.smtp ?? 'none').trim()
  if (smtp === 'none' || smtp === '') return {mode: 'none'}
  const m = /^([^:\s]+)(?::(\d+))?$/.exec(smtp)
  if (m === null) throw new AbortError(`"${smtp}" is not an SMTP server.`, ['Write it as host or host:port (e.g. --smtp smtp.example.org:587), or none'])
  const security = a.smtpSecurity ?? defaultSmtpSecurity(smtp)
  const port = m[2] === undefined ? (security === 'tls' ? 465 : 587) : Number(m[2])
  const username = a.smtpUser === undefined || a.smtpUser === 'none' ? undefined : a.smtpUser
  if (username !== undefined && a.smtpPassword === undefined) {
    throw new AbortError('An SMTP username needs its password.', ['Pass --smtp-password (it goes in the secrets file), or --smtp-user none'])
  }
  return {mode: 'smtp', host: m[1]!, port, security, ...(username === undefined ? {} : {username}), from: a.mailFrom ?? hostnameForFrom(hostname)}
}

function defaultSmtpSecurity(smtp: string): 'starttls' | 'tls' {
  return smtp.endsWith(':465') ? 'tls' : 'starttls'
}

/** A sender the site can own: its own name when that is a DNS name. */
function hostnameForFrom(hostname: string | undefined): string {
  return hostname !== undefined && isIP(hostname) === 0 && hostname.includes('.') ? `Shing <noreply@${hostname}>` : 'Shing <noreply@example.com>'
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function defaultEmail(hostname: string): string {
  return isIP(hostname) === 0 && hostname.includes('.') ? `admin@${hostname}` : 'admin@example.com'
}

/** Certificates can be issued for DNS names, not for bare IPs or single-label names. */
function defaultTls(hostname: string): 'auto' | 'none' {
  return isIP(hostname) === 0 && hostname.includes('.') ? 'auto' : 'none'
}

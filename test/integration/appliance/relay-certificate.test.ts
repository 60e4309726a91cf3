/**
 * A relay's own TLS port with the certificate the edge obtained (tls.mode auto): a real Caddy
 * (Debian's, as in the edge's test image) runs the edge's rendered Caddyfile, with the site on
 * 127.0.0.1 so that Caddy issues the certificate from its own CA without reaching the Internet,
 * and the real relay process (`node appliance/dist/main.js relay`, nginx in front) fetches it
 * from the edge's certificates site and serves viewers with it.
 */
import {randomBytes, X509Certificate} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {Redis} from 'ioredis'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {EDGE_CERTIFICATES_DIR, EDGE_CERTIFICATES_PORT, registryKey, registryRecordSchema, relayCertificatesToken, secretFiles, type RegistryRecord} from '../../../appliance/contract/index.js'
import {fetchSiteCertificate, SiteCertificateSync} from '../../../appliance/relay/site-certificate.js'
import {createLogger} from '../../../appliance/platform/logger.js'
import {configTemplate} from '../../../src/config/render.js'
import {configSchema} from '../../../src/config/schema.js'
import {renderCaddyfile} from '../../../src/stack/caddyfile.js'
import {standaloneRelayEnv} from '../../harness/appliance.js'
import {repoRoot} from '../../harness/cli.js'
import {freePort, startProcess, tempDir, waitFor, type ManagedProcess} from '../../harness/process.js'
import {startRedis, type RedisServer} from '../../harness/redis.js'
import {http2Get} from '../../harness/tls.js'
import {requireTool} from '../../harness/tools.js'

const mainJs = path.join(repoRoot, 'appliance/dist/main.js')
const TASK = 'relay-with-edge-certificate'
const HOST = '127.0.0.1'
const redisPassword = randomBytes(12).toString('hex')
const token = relayCertificatesToken(redisPassword)

let redis: RedisServer
let client: Redis
let work: {dir: string; remove: () => Promise<void>}
let caddy: ManagedProcess
let relay: ManagedProcess | undefined
let certificatesUrl: string
let caddyHttps: number
let relayTls: number
/** Caddy's own CA, which signed the site's certificate. */
let rootCa: string

const leafFingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256
const certificateFile = (): string => path.join(work.dir, 'caddy', 'certificates', 'local', HOST, `${HOST}.crt`)

async function registryRecord(): Promise<RegistryRecord | undefined> {
  const text = await client.get(registryKey('relay', TASK))
  return text === null ? undefined : registryRecordSchema.parse(JSON.parse(text))
}

beforeAll(async () => {
  redis = await startRedis({password: redisPassword})
  client = new Redis({port: redis.port, host: HOST, password: redisPassword, maxRetriesPerRequest: 1})
  work = await tempDir('relay-certificate')
  relayTls = await freePort()
  caddyHttps = await freePort()
  const certificatesPort = await freePort()
  certificatesUrl = `http://${HOST}:${certificatesPort}`

  // The Caddyfile `shing up` gives the edge, moved onto free ports and a folder of this test's.
  const raw = YAML.parse(configTemplate()) as {site: {hostname: string}; tls: {mode: string}; ports: {relayHttps?: number}}
  raw.site.hostname = HOST
  raw.tls = {mode: 'auto'}
  raw.ports.relayHttps = relayTls
  const rendered = renderCaddyfile(configSchema.parse(raw), {redisPassword})
  expect(rendered).toContain(`http://:${EDGE_CERTIFICATES_PORT} {`)
  const caddyfile = rendered
    .replace('admin 127.0.0.1:2019', `admin off\n\tdefault_bind ${HOST}\n\thttp_port ${await freePort()}\n\thttps_port ${caddyHttps}\n\tskip_install_trust`)
    .replace(`http://:${EDGE_CERTIFICATES_PORT} {`, `http://:${certificatesPort} {`)
    .replace(EDGE_CERTIFICATES_DIR, path.join(work.dir, 'caddy', 'certificates'))
  await writeFile(path.join(work.dir, 'Caddyfile'), caddyfile)
  caddy = await startProcess({
    name: 'caddy (the edge)',
    command: requireTool('caddy'),
    args: ['run', '--config', path.join(work.dir, 'Caddyfile'), '--adapter', 'caddyfile'],
    env: {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work.dir, XDG_DATA_HOME: work.dir, XDG_CONFIG_HOME: work.dir},
    ready: {probe: async () => existsSync(certificateFile()) && (await fetch(certificatesUrl)).status === 403},
    timeoutMs: 30_000,
  })
  rootCa = await readFile(path.join(work.dir, 'caddy', 'pki', 'authorities', 'local', 'root.crt'), 'utf8')
  await writeFile(path.join(work.dir, secretFiles.redisPassword), `${redisPassword}\n`, {mode: 0o600})
})

afterAll(async () => {
  if (process.env.SHING_TEST_DEBUG) console.log(relay?.output().slice(-5000), caddy?.output().slice(-5000))
  await relay?.stop()
  await caddy?.stop()
  client?.disconnect()
  await redis?.stop()
  await work?.remove()
})

describe("the relay's TLS port with the edge's certificate (tls.mode auto)", () => {
  it('the edge hands its certificate folder only to a caller with the token', async () => {
    expect((await fetch(`${certificatesUrl}/`)).status).toBe(403)
    expect((await fetch(`${certificatesUrl}/local/${HOST}/${HOST}.key`, {headers: {authorization: `Bearer ${relayCertificatesToken('not the password')}`}})).status).toBe(403)
    const listing = await fetch(`${certificatesUrl}/`, {headers: {authorization: `Bearer ${token}`, accept: 'application/json'}})
    expect(listing.status).toBe(200)
    expect((await listing.json()) as Array<{name: string}>).toContainEqual(expect.objectContaining({name: 'local/'}))
    await expect(fetchSiteCertificate({url: certificatesUrl, token: relayCertificatesToken('not the password'), hostname: HOST})).rejects.toThrow(/refuses the relay's token.*run shing up/)
  })

  it("finds the newest certificate for the site's name and checks it against its key", async () => {
    const found = await fetchSiteCertificate({url: certificatesUrl, token, hostname: HOST})
    expect(found?.cert).toBe(await readFile(certificateFile(), 'utf8'))
    expect(found!.notAfter.getTime()).toBeGreaterThan(Date.now())
    // No certificate for another name: none, not someone else's.
    expect(await fetchSiteCertificate({url: certificatesUrl, token, hostname: 'other.example.test'})).toBeUndefined()
    // Written once; asked again, nothing changes.
    const files = {certFile: path.join(work.dir, 'sync', 'cert.pem'), keyFile: path.join(work.dir, 'sync', 'key.pem')}
    const sync = new SiteCertificateSync({url: certificatesUrl, token, hostname: HOST}, files, createLogger({component: 'relay', level: 'silent', secretValues: []}))
    expect(await sync.sync()).toBe(true)
    expect(await readFile(files.certFile, 'utf8')).toBe(found!.cert)
    expect(await sync.sync()).toBe(false)
    // One file for both, as the stack has it: the certificate chain and the key together, and a
    // sync that starts with it in place finds nothing to do.
    const combined = path.join(work.dir, 'sync', 'site.pem')
    const log = createLogger({component: 'relay', level: 'silent', secretValues: []})
    expect(await new SiteCertificateSync({url: certificatesUrl, token, hostname: HOST}, {certFile: combined, keyFile: combined}, log).sync()).toBe(true)
    const pem = await readFile(combined, 'utf8')
    expect(pem).toContain(found!.cert.trimEnd())
    expect(pem).toContain(found!.key.trimEnd())
    const written = await stat(combined)
    expect(written.mode & 0o777).toBe(0o600)
    const again = new SiteCertificateSync({url: certificatesUrl, token, hostname: HOST}, {certFile: combined, keyFile: combined}, log)
    await again.start()
    again.stop()
    expect((await stat(combined)).mtimeMs).toBe(written.mtimeMs)
  })

  it('the relay fetches it before nginx starts: its TLS port serves the certificate the edge serves, and is in the registry', async () => {
    const relayPort = await freePort()
    const cacheDir = path.join(work.dir, 'relay-cache')
    const profile: unknown = YAML.parse(await readFile(path.join(repoRoot, 'hardware-profiles/cpu-small.yaml'), 'utf8'))
    relay = await startProcess({
      name: 'appliance relay',
      command: process.execPath,
      args: [mainJs, 'relay'],
      env: {
        ...standaloneRelayEnv({redisPort: redis.port, secretsDir: work.dir, profile, port: relayPort, task: TASK, cacheMb: 8, cacheDir}),
        SHING_PUBLIC_HOST: HOST,
        SHING_RELAY_TLS_PORT: String(relayTls),
        // As the stack sets it: one file for both, replaced in one rename.
        SHING_RELAY_TLS_CERT: path.join(cacheDir, 'tls', 'site.pem'),
        SHING_RELAY_TLS_KEY: path.join(cacheDir, 'tls', 'site.pem'),
        SHING_RELAY_CERT_SOURCE: certificatesUrl,
      },
      ready: {probe: async () => (await fetch(`http://${HOST}:${relayPort}/healthz`)).status === 200},
      timeoutMs: 30_000,
    })
    expect(relay.output()).toContain('site certificate fetched from the edge')
    await waitFor('the TLS port in the registry', async () => (await registryRecord())?.ports.https === relayTls, {timeoutMs: 15_000, intervalMs: 250})
    // Trusting only Caddy's CA: the relay's port and the edge's serve the same certificate.
    const fromRelay = await http2Get(`https://${HOST}:${relayTls}/healthz`, rootCa)
    const fromEdge = await http2Get(`https://${HOST}:${caddyHttps}/`, rootCa)
    expect(fromRelay).toMatchObject({status: 200, alpn: 'h2'})
    expect(fromRelay.fingerprint).toBe(fromEdge.fingerprint)
    expect(fromRelay.fingerprint).toBe(leafFingerprint(await readFile(certificateFile(), 'utf8')))
  })
})

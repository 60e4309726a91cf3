import {readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {configTemplate} from '../../../src/config/render.js'
import {configSchema, type ShingConfig} from '../../../src/config/schema.js'
import {loadProfiles} from '../../../src/hardware/profiles.js'
import {renderCaddyfile} from '../../../src/stack/caddyfile.js'
import {diffStack, type ActualStack} from '../../../src/stack/diff.js'
import {chatLimitsSchema, relayCertificatesToken, rtmpUrl} from '../../../appliance/contract/index.js'
import {planStack, publicUrl, siteRtmpUrl, siteUrls, stackImages, type StackPlan} from '../../../src/stack/plan.js'
import {fittedProfile} from '../../../src/up/up.js'
import {repoRoot} from '../../harness/cli.js'

const secrets = {
  mongoRootPassword: 'm'.repeat(32),
  redisPassword: 'r'.repeat(32),
  minioRootUser: 'shing-minio',
  minioRootPassword: 'p'.repeat(32),
  sessionSecret: 's'.repeat(64),
  streamKeySecret: 'k'.repeat(64),
}

function config(change: (c: Record<string, unknown>) => void = () => {}): ShingConfig {
  const raw = YAML.parse(configTemplate()) as Record<string, unknown>
  change(raw)
  return configSchema.parse(raw)
}

async function plan(c: ShingConfig, extraSecrets: Record<string, string> = {}): Promise<StackPlan> {
  const profiles = await loadProfiles()
  return planStack({config: c, secrets: {...secrets, ...extraSecrets}, profile: fittedProfile(profiles, c), version: '0.1.0', caddyfile: renderCaddyfile(c, secrets)})
}

/** What the engine would report after applying `p`. */
function applied(p: StackPlan): ActualStack {
  return {
    swarm: {state: 'active', isManager: true, createdByShing: true},
    nodeLabels: {'io.shing.core': 'true'},
    network: {name: p.network.name, encrypted: p.network.encrypted},
    secrets: p.secrets.map((s) => s.name),
    configs: p.configs.map((c) => c.name),
    services: p.services.map((s) => ({dockerName: s.dockerName, component: s.name, hash: s.hash})),
  }
}

describe('the URLs a site prints', () => {
  it('one RTMP URL builder for the CLI and the web: the app name, and an IPv6 host in brackets', () => {
    const v6 = config((c) => ((c.site as Record<string, string>).hostname = '2001:db8::7'))
    expect(siteRtmpUrl(v6)).toBe('rtmp://[2001:db8::7]:1935/live')
    expect(rtmpUrl('2001:db8::7', 1935)).toBe(siteRtmpUrl(v6))
    expect(rtmpUrl('live.example.org', 1936)).toBe('rtmp://live.example.org:1936/live')
    expect(publicUrl(v6)).toMatch(/^https?:\/\/\[2001:db8::7\]/)
  })

  it('the images a site runs: MinIO only when bundled, the appliance under its version', () => {
    expect(stackImages(config(), '0.1.0').map((i) => `${i.key}=${i.ref}`)).toEqual([
      'mongo=mongo:7.0',
      'redis=redis:7.2-alpine',
      'minio=minio/minio:latest',
      'caddy=caddy:2-alpine',
      'appliance=shing/appliance:0.1.0',
    ])
  })
})

describe('planStack', () => {
  it('plans every component; core ports are never published; edge, ingest and sfu publish in host mode', async () => {
    const p = await plan(config())
    expect(p.services.map((s) => s.name)).toEqual(['mongo', 'redis', 'minio', 'edge', 'web', 'ingest', 'relay', 'sfu', 'worker'])
    for (const s of p.services) {
      expect(s.spec.EndpointSpec?.Mode).toBe('dnsrr')
      for (const port of s.spec.EndpointSpec?.Ports ?? []) expect(port.PublishMode).toBe('host')
    }
    for (const name of ['mongo', 'redis', 'minio']) expect(p.services.find((s) => s.name === name)?.spec.EndpointSpec?.Ports).toEqual([])
    const edge = p.services.find((s) => s.name === 'edge')
    expect(edge?.spec.EndpointSpec?.Ports?.map((x) => x.PublishedPort)).toEqual([80, 443])
    const sfu = p.services.find((s) => s.name === 'sfu')
    // UDP and TCP on each port of the WebRTC range, and TURN's.
    expect(sfu?.spec.EndpointSpec?.Ports).toHaveLength(204)
    expect(sfu?.spec.EndpointSpec?.Ports?.filter((x) => x.PublishedPort === 3478).map((x) => x.Protocol).sort()).toEqual(['tcp', 'udp'])
    expect(p.services.find((s) => s.name === 'web')?.spec.Mode).toEqual({Replicated: {Replicas: 2}})
    expect(p.services.find((s) => s.name === 'relay')?.spec.Mode).toEqual({Global: {}})
  })

  it('the SFU holds the stream-key secret (the web\'s call requests are checked with it) and announces the address shing.yaml gives', async () => {
    const plain = await plan(config())
    expect(containerOf(plain, 'sfu').Secrets?.map((s) => s.File.Name)).toEqual(expect.arrayContaining(['shing_stream_key_secret']))
    // Unset: nothing in the environment (the SFU resolves the site's name), never the text "undefined".
    expect(containerOf(plain, 'sfu').Env.some((e) => e.startsWith('SHING_WEBRTC_ANNOUNCED_ADDRESS='))).toBe(false)
    expect(containerOf(plain, 'sfu').Env.some((e) => e.endsWith('=undefined'))).toBe(false)
    expect(containerOf(plain, 'sfu').Env).toContain('SHING_TURN_PORT=3478')
    expect(() => config((c) => ((c.ports as Record<string, unknown>).turn = 40050))).toThrow(/inside ports.webrtc/)
    const natted = await plan(config((c) => ((c.ports as {webrtc: Record<string, unknown>}).webrtc.announcedAddress = '203.0.113.9')))
    expect(containerOf(natted, 'sfu').Env).toContain('SHING_WEBRTC_ANNOUNCED_ADDRESS=203.0.113.9')
    expect(() => config((c) => ((c.ports as {webrtc: Record<string, unknown>}).webrtc.announcedAddress = 'box.example.org'))).toThrow()
  })

  it('the relay is told where its media files go (the folder its image owns) and their bound', async () => {
    const p = await plan(config())
    const relay = (p.services.find((s) => s.name === 'relay')?.spec.TaskTemplate as {ContainerSpec: {Env: string[]}}).ContainerSpec
    expect(relay.Env).toContain('SHING_RELAY_CACHE_DIR=/var/cache/shing-relay')
    expect(relay.Env).toContain('SHING_RELAY_CACHE_MB=256')
    expect(readFileSync(path.join(repoRoot, 'appliance/Dockerfile'), 'utf8')).toContain('chown node:node /var/cache/shing-relay')
  })

  const containerOf = (p: StackPlan, name: string): {Env: string[]; Secrets?: Array<{SecretName: string; File: {Name: string}}>} =>
    (p.services.find((s) => s.name === name)?.spec.TaskTemplate as {ContainerSpec: {Env: string[]; Secrets?: Array<{SecretName: string; File: {Name: string}}>}}).ContainerSpec

  it("tls auto: viewers reach the relays on their own port (host mode), with the certificate the relays fetch from the edge's token-guarded site", async () => {
    const c = config()
    expect(c.ports.relayHttps).toBe(8443)
    const p = await plan(c)
    const relay = p.services.find((s) => s.name === 'relay')
    expect(relay?.spec.EndpointSpec?.Ports).toEqual([{Protocol: 'tcp', TargetPort: 8443, PublishedPort: 8443, PublishMode: 'host'}])
    expect(containerOf(p, 'relay').Env).toEqual(
      expect.arrayContaining([
        'SHING_RELAY_TLS_PORT=8443',
        'SHING_RELAY_CERT_SOURCE=http://edge:2020',
        'SHING_RELAY_TLS_CERT=/var/cache/shing-relay/tls/site.pem',
        'SHING_RELAY_TLS_KEY=/var/cache/shing-relay/tls/site.pem',
      ]),
    )
    expect(containerOf(p, 'web').Env).toContain('SHING_RELAY_DIRECT_ORIGIN=https://shing.example.com:8443')
    expect(containerOf(p, 'ingest').Env.some((e) => e.startsWith('SHING_RELAY_'))).toBe(false)
    // The edge's certificates site: on the stack's network only (the edge publishes 80 and 443),
    // for the token the relays derive from the Redis password.
    const caddyfile = p.configs[0]!.data
    expect(caddyfile).toContain('http://:2020 {')
    expect(caddyfile).toContain(`@relay header Authorization "Bearer ${relayCertificatesToken(secrets.redisPassword)}"`)
    expect(caddyfile).toContain('root * /data/caddy/certificates')
    expect(caddyfile).not.toContain(secrets.redisPassword)
    expect(p.services.find((s) => s.name === 'edge')?.spec.EndpointSpec?.Ports?.map((x) => x.PublishedPort)).toEqual([80, 443])
    expect(siteUrls(c).video).toBe('https://shing.example.com:8443')
  })

  it('a site on an IP address with TLS: the edge answers browsers that send no server name', async () => {
    const ip = config((raw) => ((raw.site as Record<string, string>).hostname = '203.0.113.7'))
    expect(renderCaddyfile(ip, secrets)).toMatch(/^\tdefault_sni 203\.0\.113\.7$/m)
    expect(renderCaddyfile(config(), secrets)).not.toContain('default_sni')
  })

  it("tls files: the relays mount the admin's certificate as the edge does; the edge serves no certificates", async () => {
    const c = config((raw) => (raw.tls = {mode: 'files', certFile: '/etc/ssl/site.pem', keyFile: '/etc/ssl/site.key'}))
    const p = await plan(c, {tlsCert: 'CERT', tlsKey: 'KEY'})
    const relay = containerOf(p, 'relay')
    expect(relay.Env).toEqual(expect.arrayContaining(['SHING_RELAY_TLS_PORT=8443', 'SHING_RELAY_TLS_CERT=/run/secrets/shing_tls_cert', 'SHING_RELAY_TLS_KEY=/run/secrets/shing_tls_key']))
    expect(relay.Env.some((e) => e.startsWith('SHING_RELAY_CERT_SOURCE='))).toBe(false)
    expect(relay.Secrets?.map((s) => s.File.Name)).toEqual(expect.arrayContaining(['shing_tls_cert', 'shing_tls_key']))
    expect(p.configs[0]!.data).not.toContain(':2020')
  })

  it('without ports.relayHttps (or with tls none) all video goes through the edge', async () => {
    const c = config((raw) => delete (raw.ports as Record<string, unknown>).relayHttps)
    const p = await plan(c)
    expect(p.services.find((s) => s.name === 'relay')?.spec.EndpointSpec?.Ports).toEqual([])
    expect(containerOf(p, 'relay').Env.some((e) => e.startsWith('SHING_RELAY_TLS_'))).toBe(false)
    expect(containerOf(p, 'web').Env.some((e) => e.startsWith('SHING_RELAY_DIRECT_ORIGIN='))).toBe(false)
    expect(p.configs[0]!.data).not.toContain(':2020')
    expect(siteUrls(c).video).toBeUndefined()
  })

  it('never puts a secret value in the plan', async () => {
    const text = JSON.stringify(await plan(config()))
    for (const value of Object.values(secrets)) expect(text).not.toContain(value)
  })

  it('with an external S3 there is no MinIO, and components get the external keys', async () => {
    const p = await plan(
      config((c) => {
        c.storage = {kind: 's3', endpoint: 'https://s3.example.org', region: 'eu-1', bucket: 'live'}
      }),
      {s3AccessKey: 'AK', s3SecretKey: 'SK'},
    )
    expect(p.services.map((s) => s.name)).not.toContain('minio')
    const web = p.services.find((s) => s.name === 'web')?.spec.TaskTemplate as {ContainerSpec: {Env: string[]; Secrets: Array<{SecretName: string}>}}
    expect(web.ContainerSpec.Env).toContain('SHING_S3_ENDPOINT=https://s3.example.org')
    expect(web.ContainerSpec.Secrets.map((s) => s.SecretName).some((n) => n.startsWith('shing_s3_access_key_'))).toBe(true)
  })
})

describe('planStack with account mail', () => {
  type Task = {ContainerSpec: {Env: string[]; Secrets: Array<{SecretName: string}>}}
  const task = (p: StackPlan, name: string): Task => p.services.find((s) => s.name === name)?.spec.TaskTemplate as Task
  const smtpSecret = (t: Task): boolean => t.ContainerSpec.Secrets.some((s) => s.SecretName.startsWith('shing_smtp_password_'))

  it('with SMTP, every component learns the sender and server; only the worker, which sends, holds the password', async () => {
    const c = config((raw) => (raw.mail = {mode: 'smtp', host: 'smtp.example.org', username: 'live', from: 'Live <live@example.org>'}))
    const p = await plan(c, {smtpPassword: 'smtp-secret-value'})
    expect(task(p, 'web').ContainerSpec.Env).toEqual(expect.arrayContaining(['SHING_MAIL_FROM=Live <live@example.org>', 'SHING_SMTP_HOST=smtp.example.org', 'SHING_SMTP_PORT=587', 'SHING_SMTP_SECURITY=starttls', 'SHING_SMTP_USER=live']))
    expect(smtpSecret(task(p, 'worker'))).toBe(true)
    for (const name of ['web', 'ingest', 'relay', 'sfu']) expect(smtpSecret(task(p, name)), name).toBe(false)
    expect(JSON.stringify(p)).not.toContain('smtp-secret-value')
  })

  it('with mail: none, no component is told of a mail server', async () => {
    const p = await plan(config())
    expect(task(p, 'web').ContainerSpec.Env.some((e) => e.startsWith('SHING_MAIL_FROM='))).toBe(false)
    expect(smtpSecret(task(p, 'worker'))).toBe(false)
  })
})

describe('planStack with chat limits', () => {
  const env = (p: StackPlan, name: string): string[] => (p.services.find((s) => s.name === name)?.spec.TaskTemplate as {ContainerSpec: {Env: string[]}}).ContainerSpec.Env
  const chatLimits = (p: StackPlan, name: string): unknown => {
    const line = env(p, name).find((e) => e.startsWith('SHING_CHAT_LIMITS='))
    return line === undefined ? undefined : JSON.parse(line.slice('SHING_CHAT_LIMITS='.length))
  }

  it('the web gets the chat section as JSON, the limits set and the defaults of the rest; no other component gets it', async () => {
    const p = await plan(config((c) => (c.chat = {burst: 20, connectionsPerAddress: 200})))
    expect(chatLimits(p, 'web')).toEqual({...chatLimitsSchema.parse({}), burst: 20, connectionsPerAddress: 200})
    for (const name of ['ingest', 'relay', 'sfu', 'worker']) expect(chatLimits(p, name), name).toBeUndefined()
  })

  it('without chat:, the web gets the defaults', async () => {
    const p = await plan(config((c) => delete c.chat))
    expect(chatLimits(p, 'web')).toEqual(chatLimitsSchema.parse({}))
  })

  it('a changed limit updates only the web', async () => {
    const before = await plan(config())
    const after = await plan(config((c) => ((c.chat as Record<string, number>).perSecond = 2)))
    expect(diffStack(after, applied(before))).toEqual([expect.objectContaining({kind: 'service.update', service: 'web'})])
  })
})

describe('diffStack', () => {
  it('on an empty engine: make the swarm, label the box, then create everything', async () => {
    const p = await plan(config())
    const actions = diffStack(p, {swarm: {state: 'inactive', isManager: false, createdByShing: false}, nodeLabels: {}, secrets: [], configs: [], services: []})
    expect(actions.slice(0, 3).map((a) => a.kind)).toEqual(['swarm.init', 'node.label', 'network.create'])
    expect(actions.filter((a) => a.kind === 'service.create')).toHaveLength(9)
  })

  it('applied once, there is nothing left to do', async () => {
    const p = await plan(config())
    expect(diffStack(p, applied(p))).toEqual([])
  })

  it('web replicas 2 → 3 changes only web', async () => {
    const before = await plan(config())
    const after = await plan(config((c) => ((c.components as {web: {replicas: number}}).web.replicas = 3)))
    expect(diffStack(after, applied(before))).toEqual([expect.objectContaining({kind: 'service.update', service: 'web'})])
  })

  it('a rotated secret makes a new secret, updates the services that mount it, and drops the old one', async () => {
    const before = await plan(config())
    const profiles = await loadProfiles()
    const c = config()
    const after = planStack({config: c, secrets: {...secrets, redisPassword: 'x'.repeat(32)}, profile: fittedProfile(profiles, c), version: '0.1.0', caddyfile: renderCaddyfile(c, secrets)})
    const actions = diffStack(after, applied(before))
    expect(actions.filter((a) => a.kind === 'secret.create')).toHaveLength(1)
    expect(actions.filter((a) => a.kind === 'secret.remove')).toHaveLength(1)
    const updated = actions.flatMap((a) => (a.kind === 'service.update' ? [a.service] : [])).sort()
    expect(updated).toEqual(['ingest', 'redis', 'relay', 'sfu', 'web', 'worker'])
  })
})

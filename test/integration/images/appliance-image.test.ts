import {randomBytes} from 'node:crypto'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import type Docker from 'dockerode'
import {Redis} from 'ioredis'
import {Client as MinioClient} from 'minio'
import {MongoClient} from 'mongodb'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MONGO_USER, SECRETS_DIR, secretFiles} from '../../../appliance/contract/index.js'
import {repoRoot} from '../../harness/cli.js'
import {startDockerEngine, type DockerEngine} from '../../harness/docker.js'
import {ensureImages, type ImageName} from '../../harness/images.js'
import {tempDir, waitFor} from '../../harness/process.js'

// The test images stand in for the upstream images of the stack plan (mongo:7, redis, minio,
// caddy); the appliance image is the real one, built from appliance/Dockerfile by `shing image
// build` (harness/appliance-image.ts). Each core image runs here with the plan's command,
// environment, secret files and exact healthcheck, and must become healthy; then the
// credentials from the secret files are checked from outside, so "healthy" is not vacuous.

/** The plan's healthchecks, verbatim (issue 4 decisions). */
const healthchecks = {
  mongo: "mongosh --quiet --norc --eval 'quit(db.adminCommand({ping: 1}).ok ? 0 : 1)' >/dev/null",
  redis: 'redis-cli -a "$(cat /run/secrets/shing_redis_password)" --no-auth-warning ping | grep -q PONG',
  minio:
    'mc ready local >/dev/null 2>&1 || curl -fsS http://127.0.0.1:9000/minio/health/live >/dev/null 2>&1 || wget -q -O /dev/null http://127.0.0.1:9000/minio/health/live',
  edge: 'wget -q -O /dev/null http://127.0.0.1:2019/config/ || curl -fsS http://127.0.0.1:2019/config/ >/dev/null',
} as const
type CoreService = keyof typeof healthchecks

const testImages = ['appliance', 'redis', 'ferretdb', 'minio', 'caddy'] as const satisfies readonly ImageName[]
type TestImage = (typeof testImages)[number]

interface ServiceRun {
  image: TestImage
  /** Container Cmd (the image's entrypoint stays, as with a swarm spec's Args). */
  cmd?: string[]
  env: string[]
  /** Where the plan mounts the service's named volume. */
  data: string
}

const services: {[S in CoreService]: ServiceRun} = {
  mongo: {
    image: 'ferretdb',
    env: [`MONGO_INITDB_ROOT_USERNAME=${MONGO_USER}`, `MONGO_INITDB_ROOT_PASSWORD_FILE=${SECRETS_DIR}/${secretFiles.mongoRootPassword}`],
    data: '/data/db',
  },
  redis: {
    image: 'redis',
    cmd: ['sh', '-c', `exec redis-server --requirepass "$(cat ${SECRETS_DIR}/${secretFiles.redisPassword})" --appendonly yes --dir /data`],
    env: [],
    data: '/data',
  },
  minio: {
    image: 'minio',
    cmd: ['minio', 'server', '/data', '--address', ':9000'],
    // Bare names: MinIO looks them up under /run/secrets.
    env: [`MINIO_ROOT_USER_FILE=${secretFiles.minioRootUser}`, `MINIO_ROOT_PASSWORD_FILE=${secretFiles.minioRootPassword}`],
    data: '/data',
  },
  edge: {
    image: 'caddy',
    cmd: ['caddy', 'run', '--config', '/etc/caddy/Caddyfile', '--adapter', 'caddyfile'],
    env: [],
    data: '/data',
  },
}

const secrets = {
  [secretFiles.mongoRootPassword]: randomBytes(18).toString('base64url'),
  [secretFiles.redisPassword]: randomBytes(18).toString('base64url'),
  [secretFiles.minioRootUser]: `shing-${randomBytes(4).toString('hex')}`,
  [secretFiles.minioRootPassword]: randomBytes(18).toString('base64url'),
}

const ns = (s: number): number => Math.round(s * 1_000_000_000) // the engine takes durations in ns
const mb = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MB`

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

/** Runs `cmd` in a running container; its exit code and output. */
async function execIn(docker: Docker, container: Docker.Container, cmd: string[]): Promise<{code: number; output: string}> {
  const exec = await container.exec({Cmd: cmd, AttachStdout: true, AttachStderr: true})
  const stream = await exec.start({hijack: true, stdin: false})
  const sink = new PassThrough()
  let output = ''
  sink.on('data', (chunk: Buffer) => (output += chunk.toString()))
  docker.modem.demuxStream(stream, sink, sink)
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve)
    stream.on('error', reject)
  })
  const {ExitCode} = await exec.inspect()
  return {code: ExitCode ?? -1, output}
}

describe('test images', () => {
  let engine: DockerEngine
  let tags: Record<TestImage, string>
  let secretsDir: {dir: string; remove: () => Promise<void>}
  const network = `images-${randomBytes(3).toString('hex')}`
  const running = new Map<CoreService, {container: Docker.Container; ip: string}>()

  beforeAll(async () => {
    engine = await startDockerEngine({name: 'images-dockerd'})
    secretsDir = await tempDir('images-secrets')
    for (const [name, value] of Object.entries(secrets)) await writeFile(path.join(secretsDir.dir, name), value, {mode: 0o444})
    const started = Date.now()
    tags = await ensureImages(engine.docker, testImages)
    log(`timing: images ready in the private engine in ${Date.now() - started} ms`)
    for (const [name, tag] of Object.entries(tags)) log(`images: ${name} ${tag} ${mb((await engine.docker.getImage(tag).inspect()).Size)}`)
    // A user-defined bridge: the host reaches the containers' addresses to check credentials.
    await engine.docker.createNetwork({Name: network, Driver: 'bridge'})
  })

  afterAll(async () => {
    await engine?.stop() // removes the containers, volumes and network with it
    await secretsDir?.remove()
  })

  /** Starts a core service like the plan does and waits for its healthcheck to pass. */
  async function startHealthy(service: CoreService): Promise<{container: Docker.Container; ip: string}> {
    const run = services[service]
    const {docker} = engine
    const container = await docker.createContainer({
      name: `${service}-${network}`,
      Image: tags[run.image],
      ...(run.cmd === undefined ? {} : {Cmd: run.cmd}),
      Env: run.env,
      Healthcheck: {Test: ['CMD-SHELL', healthchecks[service]], Interval: ns(0.5), Timeout: ns(5), Retries: 120},
      HostConfig: {
        NetworkMode: network,
        Mounts: [
          {Type: 'bind', Source: secretsDir.dir, Target: SECRETS_DIR, ReadOnly: true},
          {Type: 'volume', Source: `${service}-data-${network}`, Target: run.data},
        ],
      },
    })
    await container.start()
    const started = Date.now()
    try {
      await waitFor(
        `${service} (${run.image}) to be healthy`,
        async () => {
          const state = (await container.inspect()).State
          if (!state.Running) throw new Error(`container exited ${state.ExitCode}`)
          return state.Health?.Status === 'healthy'
        },
        {timeoutMs: 60_000, intervalMs: 100},
      )
    } catch (error) {
      const info = await container.inspect()
      const health = info.State.Health?.Log?.at(-1)
      const logs = (await container.logs({stdout: true, stderr: true, tail: 30})).toString()
      throw new Error(
        `${(error as Error).message}\nlast healthcheck: exit ${health?.ExitCode} ${health?.Output ?? ''}\nlogs:\n${logs}`,
        {cause: error},
      )
    }
    log(`timing: ${service} healthy in ${Date.now() - started} ms`)
    const ip = (await container.inspect()).NetworkSettings.Networks[network]?.IPAddress
    if (ip === undefined || ip === '') throw new Error(`${service} has no address on ${network}`)
    const handle = {container, ip}
    running.set(service, handle)
    return handle
  }

  it('mongo (ferretdb) passes the mongosh healthcheck and enforces the root password from its secret file', async () => {
    const {container, ip} = await startHealthy('mongo')
    // The stand-in mongosh really asks: nothing listening → failure.
    const refused = await execIn(engine.docker, container, ['mongosh', '--port', '1', '--quiet', '--eval', 'quit(db.adminCommand({ping: 1}).ok ? 0 : 1)'])
    expect(refused.code).toBe(1)
    const password = secrets[secretFiles.mongoRootPassword]
    const client = new MongoClient(`mongodb://${MONGO_USER}:${password}@${ip}:27017/?authSource=admin`, {serverSelectionTimeoutMS: 5000})
    try {
      await client.db('shing').collection('probe').insertOne({at: 'images test'})
      expect(await client.db('shing').collection('probe').countDocuments()).toBe(1)
    } finally {
      await client.close()
    }
    const wrong = new MongoClient(`mongodb://${MONGO_USER}:wrong@${ip}:27017/?authSource=admin`, {serverSelectionTimeoutMS: 5000})
    await expect(wrong.db('shing').collection('probe').countDocuments()).rejects.toThrow(/Authentication failed/)
    await wrong.close()
  })

  it('redis passes the redis-cli healthcheck with the password from its secret file', async () => {
    const {container, ip} = await startHealthy('redis')
    const wrongCheck = await execIn(engine.docker, container, ['sh', '-c', 'redis-cli -a wrong --no-auth-warning ping | grep -q PONG'])
    expect(wrongCheck.code).not.toBe(0)
    const redis = new Redis({host: ip, port: 6379, password: secrets[secretFiles.redisPassword], lazyConnect: true, maxRetriesPerRequest: 1})
    try {
      await redis.connect()
      expect(await redis.ping()).toBe('PONG')
      expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes'])
    } finally {
      redis.disconnect()
    }
  })

  it('minio passes the live healthcheck and takes its root credentials from the _FILE secrets', async () => {
    const {ip} = await startHealthy('minio')
    const client = new MinioClient({
      endPoint: ip,
      port: 9000,
      useSSL: false,
      accessKey: secrets[secretFiles.minioRootUser],
      secretKey: secrets[secretFiles.minioRootPassword],
    })
    await client.makeBucket('shing-probe')
    expect(await client.bucketExists('shing-probe')).toBe(true)
    // The default minioadmin credentials must not work: the secret files were read.
    const defaults = new MinioClient({endPoint: ip, port: 9000, useSSL: false, accessKey: 'minioadmin', secretKey: 'minioadmin'})
    await expect(defaults.bucketExists('shing-probe')).rejects.toThrow()
  })

  it('edge (caddy) passes the admin API healthcheck and serves its Caddyfile', async () => {
    const {ip} = await startHealthy('edge')
    const answer = await fetch(`http://${ip}:80/`)
    expect(await answer.text()).toBe('shing-test caddy')
  })

  it('appliance image (appliance/Dockerfile): Node 24 as uid 1000, ffmpeg with x264, the production modules and a starting mediasoup worker', async () => {
    const {docker} = engine
    const image = await docker.getImage(tags.appliance).inspect()
    expect(image.Config.Entrypoint).toEqual(['node', '/app/appliance/dist/main.js'])
    expect(image.Config.WorkingDir).toBe('/app')
    expect(image.Config.User).toBe('node')
    expect(image.Config.Labels?.['org.opencontainers.image.version']).toBe('0.1.0')

    // Every production dependency must import from /app: a pruning mistake shows up here.
    const script = `
      const {execFileSync} = require('node:child_process')
      const first = (cmd, args) => execFileSync(cmd, args, {encoding: 'utf8'}).split('\\n')[0]
      console.log('node ' + process.version + ' uid ' + process.getuid())
      console.log(first('ffmpeg', ['-hide_banner', '-version']))
      console.log(first('ffprobe', ['-hide_banner', '-version']))
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30',
        '-t', '1', '-c:v', 'libx264', '-preset', 'veryfast', '-f', 'null', '-'])
      console.log('x264 ok')
      const deps = Object.keys(require('/app/appliance/package.json').dependencies)
      ;(async () => {
        for (const dep of deps) await import(dep)
        console.log('imports ok ' + deps.length)
        const mediasoup = await import('mediasoup')
        const worker = await mediasoup.createWorker({rtcMinPort: 40000, rtcMaxPort: 40100})
        const router = await worker.createRouter({mediaCodecs: [{kind: 'video', mimeType: 'video/VP8', clockRate: 90000}]})
        const transport = await router.createWebRtcTransport({listenInfos: [{protocol: 'udp', ip: '127.0.0.1'}]})
        console.log('worker ok ' + mediasoup.version + ' pid ' + worker.pid + ' dtls ' + transport.dtlsParameters.fingerprints.length)
        worker.close()
      })().catch((error) => { console.error(error); process.exit(1) })
    `
    const out = new PassThrough()
    let output = ''
    out.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const started = Date.now()
    const [result] = (await docker.run(tags.appliance, ['-e', script], out, {
      Entrypoint: ['node'],
      Tty: true,
      HostConfig: {AutoRemove: true, NetworkMode: 'none'},
    })) as [{StatusCode: number}]
    log(`timing: appliance checks in ${Date.now() - started} ms`)
    log(output.trim())
    expect(result.StatusCode, output).toBe(0)
    expect(output).toMatch(/^node v24\.\d+\.\d+ uid 1000$/m)
    expect(output).toMatch(/^ffmpeg version \S+/m)
    expect(output).toMatch(/^ffprobe version \S+/m)
    expect(output).toContain('x264 ok')
    const dependencies = Object.keys((JSON.parse(await readFile(path.join(repoRoot, 'appliance/package.json'), 'utf8')) as {dependencies: object}).dependencies)
    expect(output).toContain(`imports ok ${dependencies.length}`)
    expect(output).toMatch(/worker ok 3\.\d+\.\d+ pid \d+ dtls [1-9]/)
  })
})

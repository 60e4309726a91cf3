import {execFile, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {chmod, copyFile, mkdir, readdir, realpath, rename, rm, stat, symlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {promisify} from 'node:util'
import type Docker from 'dockerode'
import {ensureApplianceImage} from './appliance-image.js'
import {HarnessError, tempDir} from './process.js'

// Test images without a registry: each is a rootfs assembled from this host's own files (the
// host is Debian 12 like the images' users expect), `docker import`ed, saved once to a cache tar
// and `docker load`ed into every engine that lacks it (swarm boxes each need their own copy).
//
// The tag's hash covers each input file's resolved path, size and mtime (not its content: hashing
// ~300 MB of binaries on every run costs more than it is worth; a reinstalled package changes
// the mtime and so only causes a rebuild) plus the recipe itself.
//
// The core images stand in for the upstream images the stack plan runs (mongo:7, redis, minio,
// caddy): they accept the plan's commands, environment and secret files, and carry what the
// plan's healthchecks call (sh, cat, grep, wget, redis-cli, a `mongosh` that sends a real ping).
// The appliance image is not assembled: it is built from appliance/Dockerfile (appliance-image.ts).

/** Images assembled here from host files. The appliance is built from its Dockerfile (appliance-image.ts). */
const assembledNames = ['base', 'redis', 'minio', 'ferretdb', 'caddy'] as const
type AssembledName = (typeof assembledNames)[number]
export const imageNames = [...assembledNames, 'appliance'] as const
export type ImageName = (typeof imageNames)[number]

/** Bump when the way images are assembled changes, so cached tars are not reused. */
const RECIPE_VERSION = 2
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const installHint = 'run scripts/install-test-deps.sh'

interface Recipe {
  /** Host executables, with every library `ldd` lists (and the loader) at the same paths. */
  executables: string[]
  /** Host executables or shared objects put at a chosen image path, with their `ldd` libraries. */
  binaries: Array<[string, string]>
  /** Host files copied as they are: [host path, image path]. */
  files: Array<[string, string]>
  /** Generated files: image path → content. */
  generated: Record<string, string>
  /** Generated executable scripts (entrypoints, stand-ins): image path → content. */
  scripts: Record<string, string>
  /** Empty directories to create (WORKDIRs, volumes). */
  dirs: string[]
  /** `docker import --change` lines: CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR. */
  changes: string[]
}

const cacheRoot = (): string => process.env.SHING_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'shing-test')

/** Every image starts from busybox-static (sh, wget, nc… for healthchecks), CA bundle and users. */
const core: Recipe = {
  executables: [],
  binaries: [],
  files: [['/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt']],
  scripts: {},
  generated: {
    '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    '/etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  },
  dirs: ['/tmp', '/root', '/proc', '/sys', '/dev', '/etc'],
  changes: [`ENV ${PATH}`],
}

/** Where a host executable lands in an image: system binaries keep their path, others go on the PATH. */
const inImage = (executable: string): string =>
  /^\/(usr\/)?s?bin\//.test(executable) ? executable : `/usr/local/bin/${path.basename(executable)}`

// Like the upstream minio image's entrypoint: `server /data` and `minio server /data` both work,
// whichever of Command/Args the plan sets.
const minioEntrypoint = `#!/bin/sh
if [ -n "\${1:-}" ] && [ "$1" != minio ]; then set -- minio "$@"; fi
exec "$@"
`

// The mongo:7 conventions the plan uses, mapped onto FerretDB: root user from
// MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD(_FILE) (real SCRAM auth through
// FerretDB's new auth, created on first start), data under /data/db, 0.0.0.0:27017.
const ferretdbEntrypoint = `#!/bin/sh
set -e
# mongod's arguments (mongod, --bind_ip_all, --auth…) mean nothing to FerretDB.
[ "$#" -eq 0 ] || echo "ferretdb (mongo stand-in): ignoring mongod arguments: $*" >&2
password="\${MONGO_INITDB_ROOT_PASSWORD:-}"
if [ -n "\${MONGO_INITDB_ROOT_PASSWORD_FILE:-}" ]; then password="$(cat "$MONGO_INITDB_ROOT_PASSWORD_FILE")"; fi
if [ -n "\${MONGO_INITDB_ROOT_USERNAME:-}" ] && [ -n "$password" ]; then
  export FERRETDB_TEST_ENABLE_NEW_AUTH=true FERRETDB_SETUP_DATABASE=admin
  export FERRETDB_SETUP_USERNAME="$MONGO_INITDB_ROOT_USERNAME" FERRETDB_SETUP_PASSWORD="$password"
fi
mkdir -p /data/db
exec ferretdb --handler=sqlite --sqlite-url=file:/data/db/ --state-dir=/data/db --listen-addr=:27017 \\
  --debug-addr=- --telemetry=disable --log-level=warn
`

// `mongosh` for the mongo stand-in image: runs exactly the plan's healthcheck
// (`mongosh --quiet --norc --eval 'quit(db.adminCommand({ping: 1}).ok ? 0 : 1)'`) by sending a
// real OP_MSG {ping: 1, $db: 'admin'} over TCP and exiting 0 only if the answer has ok: 1.
const mongoshStandIn = (node: string): string => `#!${node}\n${String.raw`'use strict'
const net = require('node:net')
let host = '127.0.0.1'
let port = 27017
let code = ''
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  const arg = args[i]
  if (arg === '--eval') code = args[++i] || ''
  else if (arg === '--host') host = args[++i] || host
  else if (arg === '--port') port = Number(args[++i])
  else if (/^mongodb:\/\//.test(arg)) {
    const url = new URL(arg)
    host = url.hostname || host
    port = Number(url.port || port)
  } else if (/^(-u|-p|--username|--password|--authenticationDatabase)$/.test(arg)) i++ // ping needs no login
}
const fail = (why) => {
  process.stderr.write('mongosh (shing test stand-in): ' + why + '\n')
  process.exit(1)
}
if (!/\bping\b/.test(code)) fail('only the ping healthcheck is supported, not: ' + code)
const int32 = (n) => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(n)
  return b
}
const element = (type, name, value) => Buffer.concat([Buffer.from([type]), Buffer.from(name + '\0'), value])
const text = Buffer.from('admin\0')
const body = Buffer.concat([element(0x10, 'ping', int32(1)), element(0x02, '$db', Buffer.concat([int32(text.length), text]))])
const doc = Buffer.concat([int32(body.length + 5), body, Buffer.from([0])])
const payload = Buffer.concat([int32(0), Buffer.from([0]), doc]) // flagBits, section kind 0
const header = Buffer.concat([int32(16 + payload.length), int32(1), int32(0), int32(2013)]) // OP_MSG
const fixedSizes = {1: 8, 7: 12, 8: 1, 9: 8, 10: 0, 16: 4, 17: 8, 18: 8, 19: 16}
function okOf(reply) {
  if (reply.readInt32LE(12) !== 2013) throw new Error('the answer is not an OP_MSG')
  let at = 16 + 4 + 1
  const end = at + reply.readInt32LE(at) - 1
  at += 4
  while (at < end) {
    const type = reply[at++]
    const nameEnd = reply.indexOf(0, at)
    const name = reply.toString('utf8', at, nameEnd)
    at = nameEnd + 1
    if (name === 'ok') {
      if (type === 1) return reply.readDoubleLE(at)
      if (type === 16) return reply.readInt32LE(at)
      if (type === 18) return Number(reply.readBigInt64LE(at))
      if (type === 8) return reply[at]
      throw new Error('ok has BSON type ' + type)
    }
    if (type in fixedSizes) at += fixedSizes[type]
    else if (type === 2 || type === 13 || type === 14) at += 4 + reply.readInt32LE(at)
    else if (type === 3 || type === 4) at += reply.readInt32LE(at)
    else if (type === 5) at += 5 + reply.readInt32LE(at)
    else throw new Error('unexpected BSON type ' + type)
  }
  return 0
}
const socket = net.connect({host, port})
const timer = setTimeout(() => fail('no answer from ' + host + ':' + port + ' within 5 s'), 5000)
let received = Buffer.alloc(0)
socket.on('connect', () => socket.write(Buffer.concat([header, payload])))
socket.on('error', (error) => fail(error.message))
socket.on('data', (chunk) => {
  received = Buffer.concat([received, chunk])
  if (received.length < 4 || received.length < received.readInt32LE(0)) return
  clearTimeout(timer)
  socket.destroy()
  let ok = 0
  try {
    ok = okOf(received)
  } catch (error) {
    fail(error.message)
  }
  process.exit(ok ? 0 : 1)
})
`}`

const recipes: {[K in AssembledName]: () => Recipe | Promise<Recipe>} = {
  base: () => ({
    ...core,
    executables: [process.execPath],
    changes: [...core.changes, 'CMD ["node"]'],
  }),
  redis: () => ({
    ...core,
    executables: ['/usr/bin/redis-server', '/usr/bin/redis-cli'],
    dirs: [...core.dirs, '/data'],
    changes: [
      ...core.changes,
      'WORKDIR /data',
      'EXPOSE 6379',
      'CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]',
    ],
  }),
  // MinIO reads MINIO_ROOT_USER_FILE / MINIO_ROOT_PASSWORD_FILE itself (a bare name is taken
  // under /run/secrets); the healthcheck falls through `mc` and curl to busybox wget.
  minio: () => ({
    ...core,
    executables: [path.join(cacheRoot(), 'bin', 'minio')],
    scripts: {'/usr/bin/docker-entrypoint.sh': minioEntrypoint},
    dirs: [...core.dirs, '/data'],
    changes: [
      ...core.changes,
      'EXPOSE 9000',
      'ENTRYPOINT ["/usr/bin/docker-entrypoint.sh"]',
      'CMD ["server", "/data", "--address", ":9000", "--console-address", ":9001"]',
    ],
  }),
  // Stands in for mongo:7 (see ferretdbEntrypoint); node runs the mongosh stand-in. `mongod` is
  // there too, for a plan that names it as the command.
  ferretdb: () => ({
    ...core,
    executables: [process.execPath, path.join(cacheRoot(), 'bin', 'ferretdb')],
    scripts: {
      '/usr/local/bin/docker-entrypoint.sh': ferretdbEntrypoint,
      '/usr/local/bin/mongod': '#!/bin/sh\nexec /usr/local/bin/docker-entrypoint.sh "$@"\n',
      '/usr/local/bin/mongosh': mongoshStandIn(inImage(process.execPath)),
    },
    dirs: [...core.dirs, '/data/db', '/data/configdb'],
    changes: [
      ...core.changes,
      'EXPOSE 27017',
      'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
      'CMD ["mongod"]',
    ],
  }),
  caddy: () => ({
    ...core,
    executables: ['/usr/bin/caddy'],
    generated: {...core.generated, '/etc/caddy/Caddyfile': ':80 {\n\trespond "shing-test caddy"\n}\n'},
    dirs: [...core.dirs, '/data', '/config'],
    changes: [
      ...core.changes,
      'ENV XDG_DATA_HOME=/data',
      'ENV XDG_CONFIG_HOME=/config',
      'EXPOSE 80 443',
      'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
    ],
  }),
}

/** A recipe resolved against this host: every file to copy and the tag that names the result. */
interface ImagePlan {
  name: AssembledName
  tag: string
  hash: string
  /** [host path (resolved), image path] */
  copies: Array<[string, string]>
  symlinks: Array<[string, string]>
  recipe: Recipe
}

const execFileAsync = promisify(execFile)

/** The libraries (and loader) `ldd` lists for an executable; none for a static one. */
async function sharedLibraries(executable: string): Promise<string[]> {
  const result = await execFileAsync('ldd', [executable]).catch((error: {stdout?: string; stderr?: string}) => error)
  const out = `${result.stdout ?? ''}${result.stderr ?? ''}`
  if (/not a dynamic executable/.test(out)) return []
  const libs: string[] = []
  for (const line of out.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)
    if (match?.[1] !== undefined) libs.push(match[1])
    else if (/not found/.test(line)) throw new HarnessError(`images: ${executable} needs a missing library: ${line.trim()}`)
  }
  return libs
}

async function busyboxApplets(busybox: string): Promise<string[]> {
  const {stdout} = await execFileAsync(busybox, ['--list'])
  return stdout.split('\n').filter((s) => /^[\w.[-]+$/.test(s))
}

async function requireFile(file: string, name: AssembledName): Promise<void> {
  await stat(file).catch(() => {
    throw new HarnessError(`images: ${name} needs ${file}, which is missing: ${installHint}`)
  })
}

const plans = new Map<AssembledName, Promise<ImagePlan>>()

async function planImage(name: AssembledName): Promise<ImagePlan> {
  const recipe = await recipes[name]()
  const busybox = '/usr/bin/busybox'
  await requireFile(busybox, name)
  if ((await sharedLibraries(busybox)).length > 0) {
    throw new HarnessError(`images: ${busybox} is not the static build: ${installHint} (busybox-static)`)
  }
  const copies = new Map<string, string>() // image path → host path
  copies.set('/bin/busybox', busybox)
  // In parallel: the appliance has thousands of files (node_modules).
  await Promise.all(recipe.files.map(([from]) => requireFile(from, name)))
  for (const [from, to] of recipe.files) copies.set(to, from)
  const binaries: Array<[string, string]> = [...recipe.executables.map((e): [string, string] => [e, inImage(e)]), ...recipe.binaries]
  for (const [from, to] of binaries) {
    await requireFile(from, name)
    copies.set(to, from)
    for (const lib of await sharedLibraries(from)) copies.set(lib, lib)
  }
  const symlinks: Array<[string, string]> = (await busyboxApplets(busybox))
    .map((applet): [string, string] => [`/bin/${applet}`, 'busybox'])
    .filter(([at]) => !copies.has(at) && recipe.scripts[at] === undefined)

  const hash = createHash('sha256')
  hash.update(JSON.stringify({RECIPE_VERSION, name, recipe, symlinks}))
  const entries = await Promise.all(
    [...copies.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(async ([to, from]) => {
        const real = await realpath(from)
        const info = await stat(real)
        const version = `${info.size}\0${info.mtimeMs}`
        return {to, real, line: `${to}\0${real}\0${version}\0${info.mode}\n`}
      }),
  )
  for (const {line} of entries) hash.update(line)
  const resolved = entries.map(({real, to}): [string, string] => [real, to])
  const digest = hash.digest('hex').slice(0, 16)
  return {name, hash: digest, tag: `shing-test/${name}:${digest}`, copies: resolved, symlinks, recipe}
}

function plan(name: AssembledName): Promise<ImagePlan> {
  let planned = plans.get(name)
  if (planned === undefined) {
    planned = planImage(name)
    plans.set(name, planned)
    planned.catch(() => plans.delete(name)) // a fixed host (e.g. after installing) may retry
  }
  return planned
}


/** Where the saved image of a plan is cached (a `docker save` tar). */
const cacheFile = (p: ImagePlan): string => path.join(cacheRoot(), 'images', `${p.name}-${p.hash}.tar`)

async function hasImage(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect()
    return true
  } catch (error) {
    if ((error as {statusCode?: number}).statusCode === 404) return false
    throw error
  }
}

/** Reads a progress stream from the engine to its end; rejects on an error event. */
function drain(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null) => (error === null ? resolve() : reject(error)))
  })
}

async function stageRootfs(p: ImagePlan, dir: string): Promise<void> {
  for (const d of p.recipe.dirs) await mkdir(path.join(dir, d), {recursive: true})
  await chmod(path.join(dir, 'tmp'), 0o1777)
  for (const [from, to] of p.copies) {
    const target = path.join(dir, to)
    await mkdir(path.dirname(target), {recursive: true})
    await copyFile(from, target)
    await chmod(target, (await stat(from)).mode & 0o7777)
  }
  for (const [at, points] of p.symlinks) await symlink(points, path.join(dir, at))
  for (const [at, content] of Object.entries(p.recipe.generated)) {
    await mkdir(path.dirname(path.join(dir, at)), {recursive: true})
    await writeFile(path.join(dir, at), content)
  }
  for (const [at, content] of Object.entries(p.recipe.scripts)) {
    await mkdir(path.dirname(path.join(dir, at)), {recursive: true})
    await writeFile(path.join(dir, at), content, {mode: 0o755})
  }
}

/** Assembles the rootfs, imports it into `docker` and saves the image to the cache. */
async function build(docker: Docker, p: ImagePlan): Promise<void> {
  const staging = await tempDir(`image-${p.name}`)
  try {
    await stageRootfs(p, staging.dir)
    const tar = spawn('tar', ['-C', staging.dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let tarErr = ''
    tar.stderr.on('data', (chunk: Buffer) => (tarErr += chunk.toString()))
    const tarExit = new Promise<number | null>((resolve) => tar.once('close', resolve))
    const [repo, tag] = p.tag.split(':')
    await drain(docker, await docker.importImage(tar.stdout, {repo, tag, changes: p.recipe.changes}))
    const code = await tarExit
    if (code !== 0) throw new HarnessError(`images: tar of ${p.name} rootfs exited ${code}: ${tarErr}`)
  } finally {
    await staging.remove()
  }
  const file = cacheFile(p)
  await mkdir(path.dirname(file), {recursive: true})
  const partial = `${file}.${process.pid}.partial`
  try {
    await pipeline(await docker.getImage(p.tag).get(), createWriteStream(partial))
    await rename(partial, file) // atomic: a concurrent run never loads half a tar
  } finally {
    await rm(partial, {force: true})
  }
  await pruneCache(p)
}

/**
 * Removes the cached tars of this image's older versions: the appliance changes with every
 * rebuild of dist/ and each tar is ~450 MB. (A run still loading one keeps reading it: unlinking
 * an open file does not cut it short.)
 */
async function pruneCache(p: ImagePlan): Promise<void> {
  const dir = path.dirname(cacheFile(p))
  const current = path.basename(cacheFile(p))
  for (const entry of await readdir(dir)) {
    if (entry !== current && new RegExp(`^${p.name}-[0-9a-f]{16}\\.tar$`).test(entry)) await rm(path.join(dir, entry), {force: true})
  }
}

/**
 * Makes sure `docker` has each named image (building it once per host, loading the cached tar
 * into engines that lack it) and returns the tags. Prints what it did, with timings, to stderr.
 */
export async function ensureImages<N extends ImageName>(docker: Docker, names: readonly N[]): Promise<Record<N, string>> {
  const tags = {} as Record<N, string>
  for (const name of names) {
    if (name === 'appliance') {
      tags[name] = await ensureApplianceImage(docker)
      continue
    }
    const p = await plan(name as AssembledName)
    tags[name] = p.tag
    if (await hasImage(docker, p.tag)) continue
    const started = Date.now()
    const file = cacheFile(p)
    const cached = await stat(file).then(
      () => true,
      () => false,
    )
    try {
      if (cached) await drain(docker, await docker.loadImage(createReadStream(file)))
      else await build(docker, p)
    } catch (error) {
      throw new HarnessError(`images: cannot ${cached ? `load ${file}` : 'build'} ${p.tag}: ${(error as Error).message}`)
    }
    if (!(await hasImage(docker, p.tag))) throw new HarnessError(`images: ${p.tag} missing after ${cached ? 'load' : 'build'}`)
    process.stderr.write(`images: ${cached ? 'loaded' : 'built'} ${p.tag} in ${Date.now() - started} ms\n`)
  }
  return tags
}

import {execFile, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {chmod, copyFile, mkdir, realpath, rename, rm, stat, symlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {promisify} from 'node:util'
import type Docker from 'dockerode'
import {HarnessError, tempDir} from './process.js'

// Test images without a registry: each is a rootfs assembled from this host's own files (the
// host is Debian 12 like the images' users expect), `docker import`ed, saved once to a cache tar
// and `docker load`ed into every engine that lacks it (swarm boxes each need their own copy).
//
// The tag's hash covers each input file's resolved path, size and mtime (not its content: hashing
// ~300 MB of binaries on every run costs more than it is worth; a reinstalled package changes
// the mtime and so only causes a rebuild) plus the recipe itself.
//
// appliance image: built on baseImage by the stack issue

export const imageNames = ['base', 'redis', 'minio', 'ferretdb', 'caddy'] as const
export type ImageName = (typeof imageNames)[number]

/** Bump when the way images are assembled changes, so cached tars are not reused. */
const RECIPE_VERSION = 1
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const installHint = 'run scripts/install-test-deps.sh'

interface Recipe {
  /** Host executables, with every library `ldd` lists (and the loader) at the same paths. */
  executables: string[]
  /** Host files copied as they are: [host path, image path]. */
  files: Array<[string, string]>
  /** Generated files: image path → content. */
  generated: Record<string, string>
  /** Empty directories to create (WORKDIRs, volumes). */
  dirs: string[]
  /** `docker import --change` lines: CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR. */
  changes: string[]
}

const cacheRoot = (): string => process.env.SHING_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'shing-test')

/** Every image starts from busybox-static (sh, wget, nc… for healthchecks), CA bundle and users. */
const core: Recipe = {
  executables: [],
  files: [['/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt']],
  generated: {
    '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    '/etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  },
  dirs: ['/tmp', '/root', '/proc', '/sys', '/dev', '/etc'],
  changes: [`ENV ${PATH}`],
}

const recipes: {[K in ImageName]: () => Recipe} = {
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
  minio: () => ({
    ...core,
    executables: [path.join(cacheRoot(), 'bin', 'minio')],
    dirs: [...core.dirs, '/data'],
    changes: [
      ...core.changes,
      'EXPOSE 9000',
      'ENTRYPOINT ["minio"]',
      'CMD ["server", "/data", "--address", ":9000", "--console-address", ":9001"]',
    ],
  }),
  ferretdb: () => ({
    ...core,
    executables: [path.join(cacheRoot(), 'bin', 'ferretdb')],
    dirs: [...core.dirs, '/state'],
    changes: [
      ...core.changes,
      'EXPOSE 27017',
      'ENTRYPOINT ["ferretdb"]',
      'CMD ["--handler=sqlite", "--sqlite-url=file:/state/", "--state-dir=/state", "--listen-addr=:27017", "--telemetry=disable"]',
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
  name: ImageName
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

async function requireFile(file: string, name: ImageName): Promise<void> {
  await stat(file).catch(() => {
    throw new HarnessError(`images: ${name} needs ${file}, which is missing: ${installHint}`)
  })
}

const plans = new Map<ImageName, Promise<ImagePlan>>()

async function planImage(name: ImageName): Promise<ImagePlan> {
  const recipe = recipes[name]()
  const busybox = '/usr/bin/busybox'
  await requireFile(busybox, name)
  if ((await sharedLibraries(busybox)).length > 0) {
    throw new HarnessError(`images: ${busybox} is not the static build: ${installHint} (busybox-static)`)
  }
  const copies = new Map<string, string>() // image path → host path
  copies.set('/bin/busybox', busybox)
  for (const [from, to] of recipe.files) {
    await requireFile(from, name)
    copies.set(to, from)
  }
  for (const executable of recipe.executables) {
    await requireFile(executable, name)
    // System binaries keep their path; others (the cached Go builds) go on the PATH.
    const inImage = /^\/(usr\/)?s?bin\//.test(executable) ? executable : `/usr/local/bin/${path.basename(executable)}`
    copies.set(inImage, executable)
    for (const lib of await sharedLibraries(executable)) copies.set(lib, lib)
  }
  const symlinks: Array<[string, string]> = (await busyboxApplets(busybox))
    .map((applet): [string, string] => [`/bin/${applet}`, 'busybox'])
    .filter(([at]) => !copies.has(at))

  const hash = createHash('sha256')
  hash.update(JSON.stringify({RECIPE_VERSION, name, recipe, symlinks}))
  const resolved: Array<[string, string]> = []
  for (const [to, from] of [...copies.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const real = await realpath(from)
    const info = await stat(real)
    hash.update(`${to}\0${real}\0${info.size}\0${info.mtimeMs}\0${info.mode}\n`)
    resolved.push([real, to])
  }
  const digest = hash.digest('hex').slice(0, 16)
  return {name, hash: digest, tag: `shing-test/${name}:${digest}`, copies: resolved, symlinks, recipe}
}

function plan(name: ImageName): Promise<ImagePlan> {
  let planned = plans.get(name)
  if (planned === undefined) {
    planned = planImage(name)
    plans.set(name, planned)
    planned.catch(() => plans.delete(name)) // a fixed host (e.g. after installing) may retry
  }
  return planned
}

/** The tag an image gets on this host, e.g. `shing-test/redis:0123abcd…`, for image overrides. */
export async function imageTag(name: ImageName): Promise<string> {
  return (await plan(name)).tag
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
}

/**
 * Makes sure `docker` has each named image (building it once per host, loading the cached tar
 * into engines that lack it) and returns the tags. Prints what it did, with timings, to stderr.
 */
export async function ensureImages<N extends ImageName>(docker: Docker, names: readonly N[]): Promise<Record<N, string>> {
  const tags = {} as Record<N, string>
  for (const name of names) {
    const p = await plan(name)
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

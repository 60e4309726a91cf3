/**
 * The appliance image as real sites get it: appliance/Dockerfile, built by `shing image build`.
 * No registry is reachable here, so the harness supplies what a registry would:
 * - the FROM image, node:24-bookworm-slim, made locally: Debian bookworm (mmdebstrap from Debian's
 *   mirror) + the official Node 24 binary + npm + a `node` user (uid 1000), as the upstream image;
 * - mediasoup's prebuilt worker, from a mirror of its release downloads on 127.0.0.1 serving the
 *   worker scripts/install-test-deps.sh built (MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL), with
 *   the Debian libraries it links (WORKER_DEBIAN_PACKAGES).
 * The build runs on a "builder" dockerd in this host's network namespace (RUN steps reach Debian's
 * mirror and the npm registry like the host does) whose data root persists in the test cache, so
 * unchanged layers are reused. The result is saved once per content hash and loaded into the
 * engines that need it (swarm boxes have no network to build on).
 */
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdir, readdir, readFile, rename, rm, stat} from 'node:fs/promises'
import http from 'node:http'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {promisify} from 'node:util'
import {createGzip} from 'node:zlib'

import type Docker from 'dockerode'
import tar from 'tar-stream'

import {applianceContext, defaultApplianceTag} from '../../src/images/appliance-image.js'
import {repoRoot, runShing} from './cli.js'
import {startDockerd} from './docker.js'
import {HarnessError, tempDir} from './process.js'
import {requireTool, testCacheDir} from './tools.js'

const execFileAsync = promisify(execFile)

/** Bump when the way the base or the build is made changes, so cached tars are not reused. */
const RECIPE_VERSION = 1
export const BASE_IMAGE = 'node:24-bookworm-slim'

const imagesDir = (): string => path.join(testCacheDir(), 'images')
const exists = (file: string): Promise<boolean> => stat(file).then(() => true, () => false)

function log(line: string): void {
  process.stderr.write(`appliance image: ${line}\n`)
}

/** The Node 24 the tests run on (the official build install-test-deps.sh cached). */
function nodeBinary(): string {
  const major = Number(process.versions.node.split('.')[0])
  if (major < 24) throw new HarnessError(`appliance image: the tests must run on Node 24 (this is ${process.version}): run them through npm test (scripts/with-node24)`)
  return process.execPath
}

async function mediasoupWorker(): Promise<{file: string; version: string}> {
  // The appliance's mediasoup, wherever npm put it (hoisted or in appliance/node_modules).
  // (Its exports map hides package.json: find the package directory from its entry point.)
  const entry = createRequire(path.join(repoRoot, 'appliance', 'package.json')).resolve('mediasoup')
  const dir = entry.slice(0, entry.lastIndexOf(`${path.sep}node_modules${path.sep}mediasoup${path.sep}`) + `/node_modules/mediasoup`.length)
  const version = (JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as {version: string}).version
  const file = path.join(testCacheDir(), `mediasoup-worker-${version}`)
  if (!(await exists(file))) throw new HarnessError(`appliance image: no mediasoup worker ${version} at ${file}: run scripts/install-test-deps.sh`)
  return {file, version}
}

/** The Debian packages that hold the shared libraries a binary links (what its image must install). */
async function debianPackagesOf(binary: string): Promise<string[]> {
  const {stdout} = await execFileAsync('ldd', [binary])
  const libs = stdout.split('\n').flatMap((line) => /=>\s*(\/\S+)/.exec(line)?.[1] ?? [])
  const packages = new Set<string>()
  for (const lib of libs) {
    const {stdout: owner} = await execFileAsync('dpkg', ['-S', path.resolve(lib)]).catch(async () => execFileAsync('dpkg', ['-S', lib.replace(/^\/lib\//, '/usr/lib/')]))
    for (const line of owner.split('\n')) {
      const name = line.split(':')[0]?.trim()
      if (name) packages.add(name)
    }
  }
  return [...packages].sort()
}

/** Serves <base>/<version>/mediasoup-worker-<version>-linux-<arch>-kernel<N>.tgz as mediasoup's postinstall asks for it. */
async function startWorkerMirror(worker: {file: string; version: string}): Promise<{url: string; close(): Promise<void>}> {
  const name = `mediasoup-worker-${worker.version}-${os.platform()}-${os.arch()}-kernel${Number(os.release().split('.')[0])}.tgz`
  const pack = tar.pack()
  const body = await readFile(worker.file)
  pack.entry({name: 'mediasoup-worker', mode: 0o755}, body)
  pack.finalize()
  const chunks: Buffer[] = []
  const gzip = pack.pipe(createGzip())
  for await (const chunk of gzip) chunks.push(chunk as Buffer)
  const tgz = Buffer.concat(chunks)
  const server = http.createServer((request, response) => {
    if (request.url === `/${worker.version}/${name}`) {
      response.writeHead(200, {'content-type': 'application/gzip', 'content-length': tgz.length}).end(tgz)
      log(`worker mirror served ${request.url}`)
    } else response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  return {url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve()))}
}

/** node:24-bookworm-slim as a tar made here: Debian minbase + Node 24 + npm + user node (1000). */
async function baseImageTar(): Promise<string> {
  const node = nodeBinary()
  const hash = createHash('sha256').update(`${RECIPE_VERSION}\0${process.version}\0${(await stat(node)).size}`).digest('hex').slice(0, 16)
  const file = path.join(imagesDir(), `node-24-bookworm-slim-${hash}.tar`)
  if (await exists(file)) return file
  const started = Date.now()
  const work = await tempDir('base-image')
  try {
    await execFileAsync('npm', ['pack', '--silent', 'npm@11'], {cwd: work.dir})
    const packed = (await readdir(work.dir)).find((f) => f.startsWith('npm-') && f.endsWith('.tgz'))
    if (packed === undefined) throw new HarnessError('appliance image: npm pack npm@11 gave no tarball')
    await execFileAsync('tar', ['xzf', packed], {cwd: work.dir})
    const rootfs = path.join(work.dir, 'rootfs.tar')
    const hooks = [
      `cp ${node} "$1/usr/local/bin/node"`,
      `mkdir -p "$1/usr/local/lib/node_modules" && cp -a ${path.join(work.dir, 'package')} "$1/usr/local/lib/node_modules/npm"`,
      'ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"',
      'chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node',
    ]
    try {
      await execFileAsync(requireTool('mmdebstrap'), ['--quiet', '--variant=minbase', ...hooks.map((h) => `--customize-hook=${h}`), 'bookworm', rootfs], {maxBuffer: 10_000_000})
    } catch (error) {
      throw new HarnessError(`appliance image: mmdebstrap failed (is it installed? run scripts/install-test-deps.sh): ${(error as {stderr?: string}).stderr ?? (error as Error).message}`)
    }
    await mkdir(imagesDir(), {recursive: true})
    // Imported into a throwaway engine and saved: a `docker save` tar is what every engine loads.
    const partial = `${file}.${process.pid}.partial`
    const engine = await startDockerd({name: 'base-image', dir: path.join(work.dir, 'd')})
    try {
      const [repo, tag] = BASE_IMAGE.split(':')
      const stream = await engine.docker.importImage(createReadStream(rootfs), {
        repo,
        tag,
        changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `ENV NODE_VERSION=${process.versions.node}`, 'CMD ["node"]'],
      })
      await drain(engine.docker, stream)
      await pipeline(await engine.docker.getImage(BASE_IMAGE).get(), createWriteStream(partial))
      await rename(partial, file)
    } finally {
      await rm(partial, {force: true})
      await engine.stop()
    }
    log(`made ${BASE_IMAGE} (Debian bookworm minbase, Node ${process.version}) in ${((Date.now() - started) / 1000).toFixed(0)} s`)
    return file
  } finally {
    await work.remove()
  }
}

function drain(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null) => (error === null ? resolve() : reject(error))))
}

async function hasImage(docker: Docker, tag: string): Promise<boolean> {
  return docker
    .getImage(tag)
    .inspect()
    .then(
      () => true,
      (error: {statusCode?: number}) => {
        if (error.statusCode === 404) return false
        throw error
      },
    )
}

export interface ApplianceImage {
  tag: string
  /** The `docker save` tar of it, in the test cache. */
  file: string
}

let building: Promise<ApplianceImage> | undefined

/**
 * The appliance image built from this checkout's appliance/Dockerfile, as a cached tar (built on
 * the first call for this content). The tag is the one `shing up` runs: shing/appliance:<version>.
 */
export function applianceImage(): Promise<ApplianceImage> {
  building ??= buildOrReuse().catch((error: unknown) => {
    building = undefined
    throw error
  })
  return building
}

async function buildOrReuse(): Promise<ApplianceImage> {
  const tag = defaultApplianceTag()
  const worker = await mediasoupWorker()
  const packages = await debianPackagesOf(worker.file)
  const base = await baseImageTar()
  const context = await applianceContext()
  // Named by what goes in: the context's files, the base, the worker and the build arguments.
  const hash = createHash('sha256').update(`${RECIPE_VERSION}\0${tag}\0${path.basename(base)}\0${packages.join(' ')}\0`)
  hash.update(await readFile(worker.file))
  for (const file of context.files) hash.update(`${file}\0`).update(await readFile(path.join(repoRoot, file)))
  context.tar.destroy()
  const digest = hash.digest('hex').slice(0, 16)
  const file = path.join(imagesDir(), `appliance-${digest}.tar`)
  if (await exists(file)) return {tag, file}

  const started = Date.now()
  log(`building ${tag} from appliance/Dockerfile (cache key ${digest})`)
  const engine = await startDockerd({name: 'builder', dir: path.join(testCacheDir(), 'builder'), timeoutMs: 60_000})
  const mirror = await startWorkerMirror(worker)
  const partial = `${file}.${process.pid}.partial`
  try {
    if (!(await hasImage(engine.docker, BASE_IMAGE))) await drain(engine.docker, await engine.docker.loadImage(createReadStream(base)))
    const run = await runShing(
      [
        'image',
        'build',
        '--json',
        '--tag',
        tag,
        '--build-arg',
        `MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL=${mirror.url}`,
        '--build-arg',
        `WORKER_DEBIAN_PACKAGES=${packages.join(' ')}`,
      ],
      {env: {DOCKER_HOST: `unix://${engine.socketPath}`, SHING_LOG_LEVEL: 'warn'}, timeoutMs: 40 * 60_000},
    )
    // With --json the reason is in stdout ({"error": …}), the build log in stderr.
    if (run.exitCode !== 0) throw new HarnessError(`appliance image: shing image build exited ${run.exitCode}:\n${run.stderr.slice(-5000)}\n${run.stdout.slice(-3000)}`)
    await mkdir(imagesDir(), {recursive: true})
    await pipeline(await engine.docker.getImage(tag).get(), createWriteStream(partial))
    await rename(partial, file) // atomic: a concurrent run never loads half a tar
    // Old builds' layers go; the ones the next build can reuse stay (they are tagged or in use).
    await engine.docker.pruneImages({filters: {dangling: ['true']}}).catch(() => undefined)
    for (const entry of await readdir(imagesDir())) {
      if (/^appliance-[0-9a-f]{16}\.tar$/.test(entry) && entry !== path.basename(file)) await rm(path.join(imagesDir(), entry), {force: true})
    }
    log(`built ${tag} in ${((Date.now() - started) / 1000).toFixed(0)} s; saved to ${file}`)
    return {tag, file}
  } finally {
    await rm(partial, {force: true})
    await mirror.close()
    await engine.stop()
  }
}

/** Loads the appliance image into an engine that lacks it; returns its tag. */
export async function ensureApplianceImage(docker: Docker): Promise<string> {
  const {tag, file} = await applianceImage()
  if (!(await hasImage(docker, tag))) {
    const started = Date.now()
    await drain(docker, await docker.loadImage(createReadStream(file)))
    log(`loaded ${tag} in ${Date.now() - started} ms`)
  }
  return tag
}

/**
 * The appliance image built from this installed package: the build context is packed from the
 * package's own files (appliance/ with its Dockerfile, the lock file), plus the host's CA bundle so
 * that npm inside the build trusts what the host trusts (a TLS-intercepting proxy's CA included).
 */
import {createReadStream} from 'node:fs'
import {readdir, readFile, stat} from 'node:fs/promises'
import path from 'node:path'
import type {Readable} from 'node:stream'

import tar from 'tar-stream'

import type {Engine, ImageProgress} from '../engine/engine.js'
import {AbortError} from '../errors.js'
import {packageRoot} from '../lib/package-root.js'
import {shingVersion} from '../lib/version.js'
import {defaultImages} from '../stack/plan.js'

/** Where the appliance's Dockerfile sits in the context (the context is the package root). */
export const DOCKERFILE = 'appliance/Dockerfile'
/** The CA bundle the Dockerfile hands to npm when it is there (NODE_EXTRA_CA_CERTS). */
export const BUILD_CA_FILE = 'build-ca.pem'

/** The tag `shing up` runs unless images.appliance says otherwise. */
export const defaultApplianceTag = (version = shingVersion()): string => defaultImages(version).appliance

/** What the Dockerfile needs of the package, and what it must not get. */
const CONTEXT_FILES = ['package.json', 'package-lock.json', 'tsconfig.base.json']
const CONTEXT_DIRS = ['appliance']
const SKIPPED = new Set(['node_modules', 'dist', '.DS_Store'])

/** The host's trust store: what the system's own tools use. */
const CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem']

async function filesUnder(root: string, dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(path.join(root, dir), {withFileTypes: true})) {
    if (SKIPPED.has(entry.name)) continue
    const rel = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await filesUnder(root, rel)))
    else if (entry.isFile()) out.push(rel)
  }
  return out.sort()
}

/** The CA bundle to hand to the build: NODE_EXTRA_CA_CERTS / SSL_CERT_FILE, else the system's. */
export async function hostCaBundle(env: NodeJS.ProcessEnv = process.env): Promise<Buffer | undefined> {
  const candidates = [env.NODE_EXTRA_CA_CERTS, env.SSL_CERT_FILE, ...CA_BUNDLES].filter((f): f is string => f !== undefined && f !== '')
  for (const file of candidates) {
    try {
      return await readFile(file)
    } catch {
      // The next candidate: trust stores live in different places on different systems.
    }
  }
  return undefined
}

/** Packs the build context (a tar stream) from the package at `root`. */
export async function applianceContext(root = packageRoot(), caBundle?: Buffer): Promise<{tar: Readable; files: string[]}> {
  const missing = []
  for (const file of [...CONTEXT_FILES, DOCKERFILE]) {
    if (!(await stat(path.join(root, file)).then((s) => s.isFile(), () => false))) missing.push(file)
  }
  if (missing.length > 0) {
    throw new AbortError(`The appliance image cannot be built from ${root}: ${missing.join(', ')} missing.`, [
      'Build it from a clone of the Shing repository (it has the lock file the build installs from), or load a built image: docker load -i shing-appliance.tar',
    ])
  }
  const files = [...CONTEXT_FILES]
  for (const dir of CONTEXT_DIRS) files.push(...(await filesUnder(root, dir)))
  const pack = tar.pack()
  void (async () => {
    try {
      for (const file of files) {
        const info = await stat(path.join(root, file))
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({name: file, size: info.size, mode: info.mode & 0o777, mtime: info.mtime}, (error) => (error ? reject(error) : resolve()))
          createReadStream(path.join(root, file)).on('error', reject).pipe(entry)
        })
      }
      if (caBundle !== undefined) pack.entry({name: BUILD_CA_FILE, mode: 0o644}, caBundle)
      pack.finalize()
    } catch (error) {
      pack.destroy(error as Error)
    }
  })()
  return {tar: pack as unknown as Readable, files: caBundle === undefined ? files : [...files, BUILD_CA_FILE]}
}

export interface BuildApplianceOptions {
  tag?: string
  /** Dockerfile ARGs: NODE_IMAGE, MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL, WORKER_DEBIAN_PACKAGES … */
  buildArgs?: Record<string, string>
  onProgress: (p: ImageProgress) => void
}

export interface BuildApplianceResult {
  tag: string
  seconds: number
  contextFiles: number
}

/** Builds appliance/Dockerfile from this package on the engine (RUN steps on the box's own network). */
export async function buildApplianceImage(engine: Engine, options: BuildApplianceOptions): Promise<BuildApplianceResult> {
  const started = Date.now()
  const tag = options.tag ?? defaultApplianceTag()
  const context = await applianceContext(packageRoot(), await hostCaBundle())
  try {
    await engine.buildImage(
      context.tar,
      {
        tag,
        dockerfile: DOCKERFILE,
        networkMode: 'host',
        buildArgs: {VERSION: shingVersion(), ...options.buildArgs},
      },
      options.onProgress,
    )
  } catch (error) {
    if (error instanceof AbortError) throw error
    throw new AbortError(`Building ${tag} failed: ${(error as Error).message}`, [
      'The build needs the base image (node:24-bookworm-slim) and, for its RUN steps, Debian\'s package mirror and the npm registry; see the output above',
      'Or load a built image instead: docker load -i shing-appliance.tar',
    ])
  }
  return {tag, seconds: (Date.now() - started) / 1000, contextFiles: context.files.length}
}

import {execFile} from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {HarnessError} from './process.js'

/** Every external program the harness starts; scripts/install-test-deps.sh installs them all. */
export const toolNames = ['redis-server', 'ffmpeg', 'ffprobe', 'minio', 'ferretdb', 'mailpit', 'chromium', 'dockerd', 'sshd', 'ssh-keygen', 'openssl', 'mmdebstrap', 'caddy'] as const
export type ToolName = (typeof toolNames)[number]

/** Where the heavy Go builds are cached (the same default as install-test-deps.sh). */
export function testCacheDir(): string {
  return process.env.SHING_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'shing-test')
}

type Location = {onPath: string} | {file: string}

const locations: {[T in ToolName]: () => Location} = {
  'redis-server': () => ({onPath: 'redis-server'}),
  ffmpeg: () => ({onPath: 'ffmpeg'}),
  ffprobe: () => ({onPath: 'ffprobe'}),
  minio: () => ({file: path.join(testCacheDir(), 'bin', 'minio')}),
  ferretdb: () => ({file: path.join(testCacheDir(), 'bin', 'ferretdb')}),
  mailpit: () => ({file: path.join(testCacheDir(), 'bin', 'mailpit')}),
  // Debian's build: playwright's own download cannot reach its CDN from these machines.
  chromium: () => ({file: '/usr/bin/chromium'}),
  dockerd: () => ({onPath: 'dockerd'}),
  sshd: () => ({onPath: 'sshd'}),
  'ssh-keygen': () => ({onPath: 'ssh-keygen'}),
  openssl: () => ({onPath: 'openssl'}),
  mmdebstrap: () => ({onPath: 'mmdebstrap'}),
  // Debian's: the edge's image is built from it (harness/images.ts).
  caddy: () => ({file: '/usr/bin/caddy'}),
}

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

// sbin is searched too: dockerd lives in /usr/sbin, which a non-login PATH may lack.
const searchPath = (): string[] => [
  ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
  '/usr/local/sbin',
  '/usr/sbin',
  '/sbin',
]

/** The absolute path of an installed tool, or a HarnessError that says how to install it. */
export function requireTool(name: ToolName): string {
  const location = locations[name]()
  if ('file' in location) {
    if (isExecutable(location.file)) return location.file
    throw new HarnessError(`${name} is not installed (${location.file} missing): run scripts/install-test-deps.sh`)
  }
  for (const dir of searchPath()) {
    const candidate = path.join(dir, location.onPath)
    if (isExecutable(candidate)) return candidate
  }
  throw new HarnessError(`${name} is not installed (${location.onPath} missing from PATH): run scripts/install-test-deps.sh`)
}

const execFileAsync = promisify(execFile)

/** Runs a short command (e.g. `--version`) and returns stdout + stderr. */
export async function commandOutput(command: string, args: string[]): Promise<string> {
  try {
    const {stdout, stderr} = await execFileAsync(command, args, {timeout: 30_000, maxBuffer: 10_000_000})
    return `${stdout}${stderr}`
  } catch (error) {
    throw new HarnessError(`${command} ${args.join(' ')} failed: ${(error as Error).message}`)
  }
}

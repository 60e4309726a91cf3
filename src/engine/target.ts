/**
 * Where a Docker engine is: the local socket, TCP (with TLS), or SSH. Written as the docker CLI
 * writes it (unix:///var/run/docker.sock, tcp://box:2376, ssh://root@box:22); DOCKER_HOST,
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH apply as they do for the docker CLI.
 */
import {existsSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {AbortError} from '../errors.js'

export const DEFAULT_SOCKET = '/var/run/docker.sock'

export interface TlsFiles {
  ca: Buffer
  cert: Buffer
  key: Buffer
}

export type EngineTarget =
  | {kind: 'socket'; path: string}
  | {kind: 'tcp'; host: string; port: number; tls?: TlsFiles}
  | {
      kind: 'ssh'
      user: string
      host: string
      port: number
      /** The key to log in with; absent: the SSH agent (SSH_AUTH_SOCK). */
      privateKey?: Buffer
      agent?: string
      /** Host keys are checked against this file (OpenSSH's format, hashed names too). */
      knownHostsFile: string
      /** Accept this host key (SHA256:… as ssh-keygen -lf prints it) when known_hosts does not list the host. */
      hostKeyFingerprint?: string
    }

export interface TargetOptions {
  /** For ssh://: accept this host key fingerprint on first contact. */
  hostKeyFingerprint?: string
  /** For ssh://: the private key file (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa, or the agent). */
  identityFile?: string
  knownHostsFile?: string
  env?: NodeJS.ProcessEnv
}

function tlsFrom(certPath: string): TlsFiles {
  const read = (name: string): Buffer => {
    const file = path.join(certPath, name)
    try {
      return readFileSync(file)
    } catch (error) {
      throw new AbortError(`Cannot read ${file} for the engine's TLS: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, [
        'Point DOCKER_CERT_PATH at a directory with ca.pem, cert.pem and key.pem',
      ])
    }
  }
  return {ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem')}
}

function defaultIdentity(home: string): Buffer | undefined {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const file = path.join(home, '.ssh', name)
    if (existsSync(file)) return readFileSync(file)
  }
  return undefined
}

/** The target a host string (or DOCKER_HOST, or the local socket) names. */
export function parseEngineTarget(host: string | undefined, options: TargetOptions = {}): EngineTarget {
  const env = options.env ?? process.env
  const spec = host ?? env.DOCKER_HOST ?? `unix://${DEFAULT_SOCKET}`
  const bad = (): AbortError =>
    new AbortError(`"${spec}" is not an engine address.`, ['Write it as unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST[:PORT]'])
  if (spec.startsWith('unix://')) return {kind: 'socket', path: spec.slice('unix://'.length) || DEFAULT_SOCKET}
  let url: URL
  try {
    url = new URL(spec.includes('://') ? spec : `tcp://${spec}`)
  } catch {
    throw bad()
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, '')
  if (hostname === '') throw bad()
  if (url.protocol === 'tcp:' || url.protocol === 'https:' || url.protocol === 'http:') {
    const certPath = env.DOCKER_CERT_PATH
    const tls = env.DOCKER_TLS_VERIFY === '1' || url.protocol === 'https:' || url.port === '2376' || certPath !== undefined
    const port = url.port === '' ? (tls ? 2376 : 2375) : Number(url.port)
    if (!tls) return {kind: 'tcp', host: hostname, port}
    return {kind: 'tcp', host: hostname, port, tls: tlsFrom(certPath ?? path.join(os.homedir(), '.docker'))}
  }
  if (url.protocol === 'ssh:') {
    const home = os.homedir()
    const privateKey = options.identityFile === undefined ? defaultIdentity(home) : readFileSync(options.identityFile)
    const agent = env.SSH_AUTH_SOCK
    return {
      kind: 'ssh',
      user: decodeURIComponent(url.username) || 'root',
      host: hostname,
      port: url.port === '' ? 22 : Number(url.port),
      ...(privateKey === undefined ? {} : {privateKey}),
      ...(agent === undefined ? {} : {agent}),
      knownHostsFile: options.knownHostsFile ?? path.join(home, '.ssh', 'known_hosts'),
      ...(options.hostKeyFingerprint === undefined ? {} : {hostKeyFingerprint: options.hostKeyFingerprint}),
    }
  }
  throw bad()
}

/** How a target is shown to people (no key material). */
export function describeTarget(target: EngineTarget): string {
  switch (target.kind) {
    case 'socket':
      return `unix://${target.path}`
    case 'tcp':
      return `tcp://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}${target.tls ? ' (TLS)' : ''}`
    case 'ssh':
      return `ssh://${target.user}@${target.host}${target.port === 22 ? '' : `:${target.port}`}`
  }
}

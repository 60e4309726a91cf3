/**
 * SSH host keys checked the way OpenSSH checks them: against known_hosts (plain and hashed host
 * names, `[host]:port` for other ports than 22), or against a fingerprint the admin gave.
 */
import {createHash, createHmac} from 'node:crypto'
import {readFileSync} from 'node:fs'

/** SHA256:… as `ssh-keygen -lf` and OpenSSH's first-contact prompt print it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`
}

/** The name known_hosts files this host under. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function hostMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|')
    if (salt === undefined || hash === undefined) return false
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash
  }
  return pattern === name
}

export type HostKeyVerdict =
  | {status: 'known'}
  /** known_hosts lists the host with another key: possibly someone in the middle. */
  | {status: 'changed'; fingerprint: string}
  | {status: 'unknown'; fingerprint: string}

/** Looks the host's key up in a known_hosts text. */
export function checkHostKey(knownHosts: string, name: string, keyBlob: Buffer): HostKeyVerdict {
  let listed = false
  for (const raw of knownHosts.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    if (fields[0]?.startsWith('@')) continue // @cert-authority / @revoked: not supported, never a match
    const [hosts, , key] = fields
    if (hosts === undefined || key === undefined) continue
    const patterns = hosts.split(',')
    if (patterns.some((p) => p.startsWith('!') && hostMatches(p.slice(1), name))) continue
    if (!patterns.some((p) => hostMatches(p, name))) continue
    listed = true
    if (Buffer.from(key, 'base64').equals(keyBlob)) return {status: 'known'}
  }
  return {status: listed ? 'changed' : 'unknown', fingerprint: fingerprint(keyBlob)}
}

export function readKnownHosts(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}

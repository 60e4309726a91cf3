import type {CreateStreamKeyResult, ListStreamKeysResult, RevokeStreamKeysResult} from '../stream-keys/stream-keys.js'

export function renderCreatedStreamKey(r: CreateStreamKeyResult): string {
  return [
    `Stream key for ${r.channel} (id ${r.keyId}). It is shown only now: keep it secret.`,
    '',
    `OBS server      ${r.server}`,
    `OBS stream key  ${r.key}`,
    ...(r.note === undefined ? [] : ['', `Note: ${r.note}; the server above is the site's RTMP address.`]),
    '',
    `Or, with OBS 30 or later, Service "WHIP": server ${r.whipUrl}, the key above as the Bearer Token.`,
  ].join('\n')
}

export function renderStreamKeys(r: ListStreamKeysResult): string {
  if (r.keys.length === 0) return 'No stream keys yet. Create one: shing stream-key create <channel>'
  const rows = r.keys.map((k) => `${k.channel.padEnd(24)} ${k.keyId}  ${k.createdAt}  ${k.revokedAt === undefined ? 'active' : `revoked ${k.revokedAt}`}`)
  return [`${'CHANNEL'.padEnd(24)} ${'KEY ID'.padEnd(12)}  ${'CREATED'.padEnd(24)}  STATE`, ...rows].join('\n')
}

export function renderRevoked(r: RevokeStreamKeysResult): string {
  return r.revoked.length === 0 ? `${r.channel} has no active key to revoke.` : `Revoked ${r.revoked.length} key(s) of ${r.channel}: ${r.revoked.join(', ')}. Publishing with them is refused from now on.`
}

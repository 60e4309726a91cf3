import type {BackupProgress} from '../../appliance/contract/index.js'
import type {BackupResult} from '../backup/backup.js'
import type {BackupListing} from '../backup/list.js'
import type {RestoreResult} from '../backup/restore.js'

export const bytes = (n: number): string => {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`
  return `${n} B`
}

export function renderBackupProgress(p: BackupProgress): string {
  return `  ${p.text}`
}

export function renderBackup(r: BackupResult): string {
  return [
    `Backup ${r.id} made in ${r.seconds.toFixed(1)}s: ${r.path}`,
    `  MongoDB  ${r.documents} documents in ${r.collections} collections`,
    `  Redis    ${r.redisKeys} keys (sessions, queues, timelines)`,
    `  Objects  ${r.objects} (${bytes(r.objectBytes)}); ${r.copied} copied now (${bytes(r.copiedBytes)}), the rest already in ${r.target}`,
    `  Config   shing.yaml and the secrets, sealed with the passphrase`,
    `  Written  ${bytes(r.writtenBytes)}`,
    ...(r.pruned.length > 0 ? [`  Removed  older backups ${r.pruned.join(', ')}`] : []),
    '',
    `Restore it with: ${r.restoreWith}`,
  ].join('\n')
}

export function renderRestore(r: RestoreResult): string {
  return [
    `Restored backup ${r.id} (made ${r.createdAt}) in ${r.seconds.toFixed(1)}s, and the site is up.`,
    `  MongoDB  ${r.documents.restored}/${r.documents.expected} documents in ${r.collections} collections`,
    `  Redis    ${r.redisKeys} keys`,
    `  Objects  ${r.objects.verified}/${r.objects.expected} verified (${r.objects.uploaded} uploaded, ${bytes(r.objects.bytes)}; ${r.objects.unchanged} already there; ${r.objects.removed} removed)`,
    ...r.keptFiles.map((f) => `  Kept     ${f} (this box's file before the restore)`),
    '',
    `Web        ${r.urls.web}`,
    `OBS server ${r.urls.rtmp}`,
  ].join('\n')
}

export function renderBackupList(r: BackupListing): string {
  if (r.backups.length === 0) {
    return [`No complete backup in ${r.target}.`, ...(r.partial.length > 0 ? [`Unfinished (not backups): ${r.partial.join(', ')}`] : []), `Make one: shing backup --to ${r.target}`].join('\n')
  }
  const rows = r.backups.map((b) => `  ${b.id}  ${b.createdAt.slice(0, 19).replace('T', ' ')} UTC  ${String(b.documents).padStart(9)}  ${String(b.objects).padStart(8)}  ${bytes(b.objectBytes).padStart(9)}  ${bytes(b.copiedBytes).padStart(9)}  ${b.version}`)
  return [
    `Backups in ${r.target} (${r.backups.length}; the objects take ${bytes(r.blobBytes)} on disk, shared between them):`,
    `  ${'id'.padEnd(16)}  ${'made'.padEnd(23)}  ${'documents'.padStart(9)}  ${'objects'.padStart(8)}  ${'size'.padStart(9)}  ${'copied'.padStart(9)}  version`,
    ...rows,
    ...(r.partial.length > 0 ? ['', `Unfinished (not backups; the next backup removes them): ${r.partial.join(', ')}`] : []),
    '',
    `Restore the newest: shing restore ${r.target}`,
  ].join('\n')
}

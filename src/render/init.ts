import type {InitResult} from '../init/init-site.js'

export function renderInit(r: InitResult): string {
  const lines = [
    `${r.replaced ? 'Rewrote' : 'Wrote'} ${r.configFile}`,
    `Wrote ${r.secretsFile} (mode 0600): ${r.secrets.generated.length} generated, ${r.secrets.kept.length} kept${r.secrets.added.length ? `, ${r.secrets.added.length} added` : ''}`,
    `Site     ${r.config.site.hostname} (TLS ${r.config.tls.mode}), admin ${r.config.site.adminEmail}`,
    `Storage  ${r.config.storage.kind === 'minio' ? 'bundled MinIO' : r.config.storage.endpoint}, bucket ${r.config.storage.bucket}`,
    `Mail     ${r.config.mail.mode === 'smtp' ? `SMTP ${r.config.mail.host}:${r.config.mail.port} (${r.config.mail.security}), from ${r.config.mail.from}` : 'none: accounts need no verification; an admin resets forgotten passwords'}`,
    `Profile  ${r.profile.name}: ${r.profile.reason}`,
    ...r.profile.adjustments.map((a) => `         ${a}`),
    ...r.profile.warnings.map((w) => `  warn   ${w}`),
    ...r.warnings.map((w) => `Note     ${w}`),
    '',
    'Next:',
    ...r.next.map((n) => `  ${n}`),
  ]
  return lines.join('\n')
}

import {readFileSync} from 'node:fs'
import path from 'node:path'

import type {ShingConfig} from '../config/schema.js'
import {packageRoot} from '../lib/package-root.js'

export const TLS_CERT_FILE = '/run/secrets/shing_tls_cert'
export const TLS_KEY_FILE = '/run/secrets/shing_tls_key'

export function caddyfileTemplate(): string {
  return readFileSync(path.join(packageRoot(), 'templates', 'Caddyfile'), 'utf8')
}

/** The edge's Caddyfile for this config: which site address, which certificates. */
export function renderCaddyfile(config: ShingConfig, template = caddyfileTemplate()): string {
  const {hostname, adminEmail} = config.site
  const values: Record<string, string> = {
    auto: {global: `email ${adminEmail}`, site: hostname, tls: ''},
    // Plain HTTP on every name: for a LAN or a TLS-terminating proxy in front.
    none: {global: 'auto_https off', site: 'http://', tls: ''},
    files: {global: 'auto_https disable_certs', site: hostname, tls: `tls ${TLS_CERT_FILE} ${TLS_KEY_FILE}`},
  }[config.tls.mode] as Record<string, string>
  return template
    .replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? '')
    .replace(/^\s*\n(?=\s*\n)/gm, '')
}

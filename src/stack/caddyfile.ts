import {readFileSync} from 'node:fs'
import {isIP} from 'node:net'
import path from 'node:path'

import {EDGE_CERTIFICATES_DIR, EDGE_CERTIFICATES_PORT, relayCertificatesToken} from '../../appliance/contract/index.js'
import type {ShingConfig} from '../config/schema.js'
import {packageRoot} from '../lib/package-root.js'

export const TLS_CERT_FILE = '/run/secrets/shing_tls_cert'
export const TLS_KEY_FILE = '/run/secrets/shing_tls_key'

export function caddyfileTemplate(): string {
  return readFileSync(path.join(packageRoot(), 'templates', 'Caddyfile'), 'utf8')
}

/** The edge's Caddyfile for this config: which site address, which certificates. */
export function renderCaddyfile(config: ShingConfig, secrets: {redisPassword: string}, template = caddyfileTemplate()): string {
  const {hostname, adminEmail} = config.site
  const values: Record<string, string> = {
    auto: {global: `email ${adminEmail}`, site: hostname, tls: ''},
    // Plain HTTP on every name: for a LAN or a TLS-terminating proxy in front.
    none: {global: 'auto_https off', site: 'http://', tls: ''},
    files: {global: 'auto_https disable_certs', site: hostname, tls: `tls ${TLS_CERT_FILE} ${TLS_KEY_FILE}`},
  }[config.tls.mode] as Record<string, string>
  // A browser sends no server name for an IP address, and Caddy would look the certificate up by
  // the address the connection reached: the container's own behind the box's published port.
  const bare = hostname.replace(/^\[(.*)\]$/, '$1')
  if (config.tls.mode !== 'none' && isIP(bare) !== 0) values.global += `\n\tdefault_sni ${bare}`
  values.certificates = config.tls.mode === 'auto' && config.ports.relayHttps !== undefined ? certificatesSite(relayCertificatesToken(secrets.redisPassword)) : ''
  return template
    .replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? '')
    .replace(/^\s*\n(?=\s*\n)/gm, '')
}

/**
 * The certificates Caddy obtained, for the relays that serve viewers on their own TLS port
 * (ports.relayHttps): on the stack's network only (the port is not published), to a relay that
 * shows the token. Caddy keeps its key files readable by root alone, so the relays (another
 * user, maybe another box) fetch them from here.
 */
function certificatesSite(token: string): string {
  return `
# Relays fetch the site's certificate here for their own TLS port (ports.relayHttps): the stack's
# network only, never published.
http://:${EDGE_CERTIFICATES_PORT} {
	@relay header Authorization "Bearer ${token}"
	handle @relay {
		root * ${EDGE_CERTIFICATES_DIR}
		file_server browse
	}
	handle {
		respond 403
	}
}
`
}

import {readFileSync} from 'node:fs'
import os from 'node:os'
import {gunzipSync} from 'node:zlib'

/** The running kernel's build config, from /proc/config.gz or /boot; undefined when unpublished. */
function kernelConfig(): string | undefined {
  try {
    return gunzipSync(readFileSync('/proc/config.gz')).toString()
  } catch {
    // Not every kernel publishes /proc/config.gz; distributions keep a copy in /boot.
  }
  try {
    return readFileSync(`/boot/config-${os.release()}`, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Whether this kernel can carry an encrypted overlay (`encrypted` option: IPsec ESP with
 * AES-GCM). Without it Docker creates the network, but it passes no packets.
 */
export function overlayEncryptionSupport(): {works: boolean; why: string} {
  const config = kernelConfig()
  if (config === undefined) return {works: true, why: 'kernel config not published; assuming ESP works'}
  const missing = ['CONFIG_INET_ESP', 'CONFIG_CRYPTO_GCM'].filter((key) => !new RegExp(`^${key}=[ym]$`, 'm').test(config))
  return missing.length === 0
    ? {works: true, why: 'the kernel has ESP and GCM'}
    : {works: false, why: `the kernel lacks ${missing.join(', ')}: an encrypted overlay would pass no traffic`}
}

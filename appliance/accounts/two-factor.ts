/**
 * Two-factor log-in with an authenticator app (TOTP, RFC 6238, by otplib) and one-time recovery
 * codes. The app's secret is stored encrypted (AES-256-GCM, its key derived from the session
 * secret), so a copy of the database alone logs nobody in; recovery codes are stored as SHA-256.
 * A code is good once: the time step it used is recorded, and an older or equal one is refused.
 */
import {createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes} from 'node:crypto'

import {generateSecret, generateURI, verify} from 'otplib'
import QRCode from 'qrcode'

/** How many recovery codes an account gets; each works once. */
export const RECOVERY_CODES = 10
/** A code from the step before or after is taken too (clocks drift; typing takes time). */
const EPOCH_TOLERANCE_SECONDS = 30

export interface TotpRecord {
  /** The app's secret, encrypted: base64url of iv | tag | ciphertext. */
  secret: string
  enabledAt: Date
  /** The time step of the last code used. */
  lastStep?: number
  recoveryHashes: string[]
}

export const hashRecoveryCode = (code: string): string => createHash('sha256').update(code.trim().toLowerCase().replace(/[\s-]/g, '')).digest('hex')

export class TwoFactor {
  private readonly key: Buffer

  constructor(sessionSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', sessionSecret, 'shing', 'totp-secret', 32))
  }

  newSecret(): string {
    return generateSecret()
  }

  seal(secret: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
  }

  open(sealed: string): string {
    const raw = Buffer.from(sealed, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(12, 28))
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
  }

  /** What an authenticator app scans: the otpauth:// URI as an SVG QR code (inline, no script). */
  async enrolment(secret: string, site: string, username: string): Promise<{uri: string; qrSvg: string}> {
    const uri = generateURI({issuer: site, label: username, secret})
    const qrSvg = await QRCode.toString(uri, {type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: {dark: '#000000', light: '#ffffff'}})
    return {uri, qrSvg}
  }

  /** The time step of a right code, or undefined (wrong, malformed, or not newer than `afterStep`). */
  async check(secret: string, code: string, afterStep?: number): Promise<number | undefined> {
    const token = code.replace(/\s/g, '')
    if (!/^\d{6}$/.test(token)) return undefined
    const result = await verify({secret, token, epochTolerance: EPOCH_TOLERANCE_SECONDS, ...(afterStep === undefined ? {} : {afterTimeStep: afterStep})})
    return result.valid && 'timeStep' in result ? result.timeStep : undefined
  }

  /** Fresh recovery codes (shown once) and what is stored of them. */
  recoveryCodes(): {codes: string[]; hashes: string[]} {
    const codes = Array.from({length: RECOVERY_CODES}, () => {
      const raw = randomBytes(8).toString('hex')
      return `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8, 12)}-${raw.slice(12)}`
    })
    return {codes, hashes: codes.map(hashRecoveryCode)}
  }
}

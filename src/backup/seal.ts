/**
 * shing.yaml and the secrets file, sealed with the admin's passphrase for the backup: scrypt derives
 * the key, AES-256-GCM encrypts and authenticates. The secrets never leave the box in plain text.
 */
import {createCipheriv, createDecipheriv, randomBytes, scrypt} from 'node:crypto'

import {z} from 'zod'

import {AbortError} from '../errors.js'

const FORMAT = 'shing-sealed-1'
/** scrypt's cost: 2^15 × 8 × 128 B = 32 MiB and about 0.1 s here, for each try at a passphrase. */
const KDF = {N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024} as const
export const MIN_PASSPHRASE = 12

const sealedSchema = z.object({
  format: z.literal(FORMAT),
  kdf: z.object({name: z.literal('scrypt'), N: z.number().int().min(2 ** 10).max(2 ** 20), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16), salt: z.string()}),
  iv: z.string(),
  tag: z.string(),
  data: z.string(),
})

/** The files sealed, by name (shing.yaml, shing.secrets.yaml). */
export type SealedFiles = Record<string, string>

function deriveKey(passphrase: string, salt: Buffer, kdf: {N: number; r: number; p: number}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, 32, {N: kdf.N, r: kdf.r, p: kdf.p, maxmem: KDF.maxmem}, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

export async function seal(files: SealedFiles, passphrase: string): Promise<string> {
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const key = await deriveKey(passphrase, salt, KDF)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const data = Buffer.concat([cipher.update(JSON.stringify(files), 'utf8'), cipher.final()])
  return `${JSON.stringify({
    format: FORMAT,
    kdf: {name: 'scrypt', N: KDF.N, r: KDF.r, p: KDF.p, salt: salt.toString('base64')},
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  })}\n`
}

export async function unseal(text: string, passphrase: string): Promise<SealedFiles> {
  let sealed: z.infer<typeof sealedSchema>
  try {
    sealed = sealedSchema.parse(JSON.parse(text))
  } catch {
    throw new AbortError("The backup's sealed config is not one this version of Shing reads.", ['Restore with the Shing version that made the backup'])
  }
  const key = await deriveKey(passphrase, Buffer.from(sealed.kdf.salt, 'base64'), sealed.kdf).catch((error: unknown) => {
    throw new AbortError(`The backup's sealed config names key settings this box cannot use (${(error as Error).message}).`, ['Restore with the Shing version that made the backup'])
  })
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'))
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'))
  let plain: string
  try {
    plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8')
  } catch {
    throw new AbortError("The passphrase does not open this backup's config (or the file was changed).", [
      'Give the passphrase the backup was made with: --passphrase-file <file> or SHING_BACKUP_PASSPHRASE',
    ])
  }
  return z.record(z.string(), z.string()).parse(JSON.parse(plain))
}

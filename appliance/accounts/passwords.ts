/**
 * Passwords: Argon2id at OWASP's parameters (Password Storage Cheat Sheet: m=19 MiB, t=2, p=1),
 * with Node's own `crypto.argon2`, stored as a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)
 * so that stronger parameters later still verify the hashes made before. The whole password is
 * hashed (no 72-byte cut as in bcrypt).
 */
import {argon2, randomBytes, timingSafeEqual} from 'node:crypto'

export const ARGON2_PARAMETERS = {memory: 19_456, passes: 2, parallelism: 1} as const
const TAG_LENGTH = 32
const SALT_LENGTH = 16

/** Sign-up and password changes check these; the messages name the fix. */
export const PASSWORD_MIN_LENGTH = 10
export const PASSWORD_MAX_LENGTH = 1024

export function passwordProblem(password: string, username?: string): string | undefined {
  if (password.length < PASSWORD_MIN_LENGTH) return `Use a password of at least ${PASSWORD_MIN_LENGTH} characters (a few words make a good one).`
  if (password.length > PASSWORD_MAX_LENGTH) return `Use a password of at most ${PASSWORD_MAX_LENGTH} characters.`
  if (username !== undefined && password.toLowerCase().includes(username.toLowerCase())) return 'Use a password that does not contain your username.'
  return undefined
}

interface Parameters {
  memory: number
  passes: number
  parallelism: number
}

function derive(password: string, salt: Buffer, parameters: Parameters, tagLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    argon2('argon2id', {message: password, nonce: salt, tagLength, ...parameters}, (error, tag) => (error ? reject(error) : resolve(tag)))
  })
}

const b64 = (buffer: Buffer): string => buffer.toString('base64').replace(/=+$/, '')

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH)
  const tag = await derive(password, salt, ARGON2_PARAMETERS, TAG_LENGTH)
  const {memory, passes, parallelism} = ARGON2_PARAMETERS
  return `$argon2id$v=19$m=${memory},t=${passes},p=${parallelism}$${b64(salt)}$${b64(tag)}`
}

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

/** True when `password` is the one `stored` was made from; false for any other (or a malformed hash). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const match = PHC.exec(stored)
  if (match === null) return false
  const [, memory, passes, parallelism, salt, tag] = match
  const expected = Buffer.from(tag!, 'base64')
  const actual = await derive(password, Buffer.from(salt!, 'base64'), {memory: Number(memory), passes: Number(passes), parallelism: Number(parallelism)}, expected.length)
  return timingSafeEqual(actual, expected)
}

/** A hash of nothing anyone knows: a log-in for an unknown name verifies against it, so it takes as long as a known one. */
let decoy: Promise<string> | undefined
export const decoyHash = (): Promise<string> => (decoy ??= hashPassword(randomBytes(16).toString('hex')))

import type {ShingSecrets} from './schema.js'

export const REDACTED = '<redacted>'

/** Secret names with their values hidden: what `config show` may print. */
export function redactSecrets(secrets: ShingSecrets): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of Object.keys(secrets)) if (key !== 'version') out[key] = REDACTED
  return out
}

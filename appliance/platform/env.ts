import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {z} from 'zod'

import {componentEnvSchema, secretFiles, type ComponentEnv, type SecretName} from '../contract/index.js'

/** Something the operator can fix (missing variable, unreadable secret): a message, no stack, exit 1. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * The parts of the hardware profile the appliance uses. The full schema lives in src/ (which the
 * appliance must not import) and has already validated the document before it was put in the env.
 */
const profileSchema = z.object({
  name: z.string(),
  /** The ABR ladder, highest first: stream state lists it as the renditions. */
  ladder: z.array(z.object({name: z.string(), height: z.number().int(), fps: z.number(), videoKbps: z.number(), audioKbps: z.number()})).min(1),
  /** How the ingest's ladder encodes and packages (src/hardware/profile-schema.ts has the checks). */
  encoder: z.object({
    kind: z.enum(['x264', 'nvenc', 'vaapi', 'qsv']),
    inputArgs: z.array(z.string()),
    scaleFilter: z.string(),
    videoArgs: z.array(z.string()),
  }),
  hls: z.object({segmentSeconds: z.number(), partSeconds: z.number()}),
  ingest: z.object({maxLadders: z.number().int().min(1)}),
  sfu: z.object({workers: z.number().int().min(0)}),
  worker: z.object({concurrency: z.number().int().min(1)}),
})
export type ApplianceProfile = z.infer<typeof profileSchema>

export interface ApplianceEnv extends Omit<ComponentEnv, 'SHING_PROFILE'> {
  profile: ApplianceProfile
}

/** Parses the environment; every problem names its variable. */
export function parseEnv(env: NodeJS.ProcessEnv): ApplianceEnv {
  const parsed = componentEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.')
      return env[name] === undefined ? `missing environment variable ${name}` : `environment variable ${name}: ${issue.message}`
    })
    throw new ConfigError(problems.join('; '))
  }
  const {SHING_PROFILE, ...rest} = parsed.data
  let json: unknown
  try {
    json = JSON.parse(SHING_PROFILE)
  } catch (error) {
    throw new ConfigError(`environment variable SHING_PROFILE is not JSON: ${(error as Error).message}`)
  }
  const profile = profileSchema.safeParse(json)
  if (!profile.success) {
    const where = profile.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new ConfigError(`environment variable SHING_PROFILE is not a hardware profile: ${where}`)
  }
  return {...rest, profile: profile.data}
}

export type Secrets = Partial<Record<SecretName, string>>

/** Reads the named secrets from SHING_SECRETS_DIR; a missing or empty file names its path. */
export async function readSecrets(dir: string, names: readonly SecretName[]): Promise<Secrets> {
  const secrets: Secrets = {}
  for (const name of names) {
    const file = path.join(dir, secretFiles[name])
    let value: string
    try {
      value = (await readFile(file, 'utf8')).trim()
    } catch (error) {
      throw new ConfigError(`cannot read secret ${secretFiles[name]} (${file}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    if (value === '') throw new ConfigError(`secret ${secretFiles[name]} (${file}) is empty`)
    secrets[name] = value
  }
  return secrets
}

/** A secret a component declared it needs; readSecrets has checked it is there. */
export function secret(secrets: Secrets, name: SecretName): string {
  const value = secrets[name]
  if (value === undefined) throw new Error(`secret ${name} was not loaded: add it to the component's secrets`)
  return value
}

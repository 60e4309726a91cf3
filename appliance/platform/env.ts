import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {z} from 'zod'

import {
  chatLimitsSchema,
  communitySettingsSchema,
  componentEnvSchema,
  hardwareProfileSchema,
  mediaSettingsSchema,
  retentionSchema,
  secretFiles,
  type ChatLimits,
  type CommunitySettings,
  type ComponentEnv,
  type HardwareProfile,
  type MediaSettings,
  type Retention,
  type SecretName,
} from '../contract/index.js'

/** Something the operator can fix (missing variable, unreadable secret): a message, no stack, exit 1. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export interface ApplianceEnv extends Omit<ComponentEnv, 'SHING_PROFILE' | 'SHING_CHAT_LIMITS' | 'SHING_MEDIA' | 'SHING_RETENTION' | 'SHING_COMMUNITY'> {
  profile: HardwareProfile
  chatLimits: ChatLimits
  media: MediaSettings
  retention: Retention
  community: CommunitySettings
}

/** A variable that holds a JSON document: parsed and validated, or a ConfigError that names it and what is wrong. */
function jsonVariable<T>(name: string, value: string, schema: z.ZodType<T>, what: string): T {
  let json: unknown
  try {
    json = JSON.parse(value)
  } catch (error) {
    throw new ConfigError(`environment variable ${name} is not JSON: ${(error as Error).message}`)
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new ConfigError(`environment variable ${name} is not ${what}: ${where}`)
  }
  return parsed.data
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
  const {SHING_PROFILE, SHING_CHAT_LIMITS, SHING_MEDIA, SHING_RETENTION, SHING_COMMUNITY, ...rest} = parsed.data
  return {
    ...rest,
    profile: jsonVariable('SHING_PROFILE', SHING_PROFILE, hardwareProfileSchema, 'a hardware profile'),
    chatLimits: jsonVariable('SHING_CHAT_LIMITS', SHING_CHAT_LIMITS ?? '{}', chatLimitsSchema, 'chat limits'),
    media: jsonVariable('SHING_MEDIA', SHING_MEDIA ?? '{}', mediaSettingsSchema, 'media settings'),
    retention: jsonVariable('SHING_RETENTION', SHING_RETENTION ?? '{}', retentionSchema, 'retention settings'),
    community: jsonVariable('SHING_COMMUNITY', SHING_COMMUNITY ?? '{}', communitySettingsSchema, 'community settings'),
  }
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

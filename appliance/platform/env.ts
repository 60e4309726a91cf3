import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {componentEnvSchema, hardwareProfileSchema, secretFiles, type ComponentEnv, type HardwareProfile, type SecretName} from '../contract/index.js'

/** Something the operator can fix (missing variable, unreadable secret): a message, no stack, exit 1. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export interface ApplianceEnv extends Omit<ComponentEnv, 'SHING_PROFILE'> {
  profile: HardwareProfile
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
  const profile = hardwareProfileSchema.safeParse(json)
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

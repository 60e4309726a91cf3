import {readFile} from 'node:fs/promises'
import YAML from 'yaml'

import {AbortError, errorMessage} from '../errors.js'
import {loadProfiles} from '../hardware/profiles.js'
import {toProblems, type Problem} from '../lib/zod-issues.js'
import {configPaths} from './files.js'
import {configSchema, secretsSchema, type ShingConfig, type ShingSecrets} from './schema.js'

export interface LoadedConfig {
  config: ShingConfig
  secrets: ShingSecrets
  paths: ReturnType<typeof configPaths>
}

export type ValidationResult =
  | {valid: true; problems: []; loaded: LoadedConfig}
  | {valid: false; problems: Array<Problem & {file: string}>}

async function readYaml(file: string): Promise<{ok: true; value: unknown} | {ok: false; problems: Problem[]}> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const message = code === 'ENOENT' ? 'file not found: run `shing init` (or pass --dir to point at it)' : errorMessage(error)
    return {ok: false, problems: [{path: '', message}]}
  }
  const doc = YAML.parseDocument(text, {prettyErrors: true, uniqueKeys: true})
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0]
        const where = pos ? `line ${pos.line}, column ${pos.col}` : ''
        return {path: where, message: `malformed YAML: ${e.message.split('\n')[0]} — fix the syntax there`}
      }),
    }
  }
  return {ok: true, value: doc.toJS()}
}

/** Reads and checks shing.yaml and its secrets file; every problem is reported, not just the first. */
export async function validateConfig(dir: string): Promise<ValidationResult> {
  const paths = configPaths(dir)
  const problems: Array<Problem & {file: string}> = []
  const [rawConfig, rawSecrets] = await Promise.all([readYaml(paths.config), readYaml(paths.secrets)])
  let config: ShingConfig | undefined
  let secrets: ShingSecrets | undefined
  if (rawConfig.ok) {
    const parsed = configSchema.safeParse(rawConfig.value)
    if (parsed.success) config = parsed.data
    else problems.push(...toProblems(parsed.error.issues).map((p) => ({...p, file: paths.config})))
  } else problems.push(...rawConfig.problems.map((p) => ({...p, file: paths.config})))

  if (rawSecrets.ok) {
    const parsed = secretsSchema.safeParse(rawSecrets.value)
    if (parsed.success) secrets = parsed.data
    else {
      problems.push(
        ...toProblems(parsed.error.issues).map((p) => ({
          ...p,
          message: p.message.startsWith('missing:')
            ? 'missing secret: run `shing init --force` to generate the missing secrets (existing ones are kept)'
            : p.message,
          file: paths.secrets,
        })),
      )
    }
  } else problems.push(...rawSecrets.problems.map((p) => ({...p, file: paths.secrets})))

  if (config !== undefined) {
    const names = (await loadProfiles()).map((p) => p.name)
    if (!names.includes(config.hardware.profile)) {
      problems.push({
        path: 'hardware.profile',
        message: `no hardware profile is named "${config.hardware.profile}": use one of ${names.join(', ')} (\`shing hardware\` shows the one for this box)`,
        file: paths.config,
      })
    }
  }

  if (config?.storage.kind === 's3' && secrets !== undefined) {
    for (const key of ['s3AccessKey', 's3SecretKey'] as const) {
      if (secrets[key] === undefined) {
        problems.push({
          path: key,
          message: `missing secret: storage.kind is s3, so ${key} is needed — add it to the secrets file or run \`shing init --force --storage s3 --s3-access-key … --s3-secret-key …\``,
          file: paths.secrets,
        })
      }
    }
  }
  if (config?.mail.mode === 'smtp' && config.mail.username !== undefined && secrets !== undefined && secrets.smtpPassword === undefined) {
    problems.push({
      path: 'smtpPassword',
      message: `missing secret: mail.username is set, so the SMTP password is needed — add smtpPassword to the secrets file or run \`shing init --force --smtp-password …\``,
      file: paths.secrets,
    })
  }
  if (problems.length > 0 || config === undefined || secrets === undefined) return {valid: false, problems}
  return {valid: true, problems: [], loaded: {config, secrets, paths}}
}

/** Loads a valid config or stops with every problem listed. */
export async function loadConfig(dir: string): Promise<LoadedConfig> {
  const result = await validateConfig(dir)
  if (result.valid) return result.loaded
  const lines = result.problems.map((p) => `${p.file}: ${p.path || '(file)'}: ${p.message}`)
  throw new AbortError(`The config in ${dir} is not valid:\n${lines.join('\n')}`, [
    'Fix the keys named above, then check with: shing config validate',
  ])
}

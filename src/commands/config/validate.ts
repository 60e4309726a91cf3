import {ShingCommand} from '../../base-command.js'
import {validateConfig} from '../../config/load.js'
import type {Problem} from '../../lib/zod-issues.js'

export interface ValidateResult {
  valid: boolean
  dir: string
  problems: Array<Problem & {file: string}>
}

export default class ConfigValidate extends ShingCommand {
  static override summary = 'Check shing.yaml and its secrets file; one line per problem, naming the key and the fix.'
  static override description = 'Exits 1 when anything is wrong (unknown key, wrong type, port clash, missing secret, malformed YAML).'
  static override examples = ['<%= config.bin %> config validate', '<%= config.bin %> config validate --dir /etc/shing --json']

  async run(): Promise<ValidateResult> {
    const {flags} = await this.parse(ConfigValidate)
    const dir = this.configDir(flags)
    const result = await validateConfig(dir)
    const out: ValidateResult = {valid: result.valid, dir, problems: result.valid ? [] : result.problems}
    if (!this.jsonEnabled()) {
      if (out.valid) this.log(`${dir}: config is valid`)
      for (const p of out.problems) this.logToStderr(`${p.file}: ${p.path || '(file)'}: ${p.message}`)
    }
    if (!out.valid) process.exitCode = 1
    return out
  }
}

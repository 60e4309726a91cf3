import {ShingCommand} from '../../base-command.js'
import {loadConfig} from '../../config/load.js'
import {redactSecrets} from '../../config/redact.js'
import type {ShingConfig} from '../../config/schema.js'
import YAML from 'yaml'

export interface ShowResult {
  dir: string
  config: ShingConfig
  /** Every secret by name, its value replaced. */
  secrets: Record<string, string>
}

export default class ConfigShow extends ShingCommand {
  static override summary = 'Print the effective config (defaults filled in), with secrets redacted.'
  static override examples = ['<%= config.bin %> config show', '<%= config.bin %> config show --json']

  async run(): Promise<ShowResult> {
    const {flags} = await this.parse(ConfigShow)
    const loaded = await loadConfig(this.configDir(flags))
    const result: ShowResult = {dir: loaded.paths.dir, config: loaded.config, secrets: redactSecrets(loaded.secrets)}
    if (!this.jsonEnabled()) this.log(YAML.stringify({...result.config, secrets: result.secrets}).trimEnd())
    return result
  }
}

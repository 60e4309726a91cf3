import {ShingCommand} from '../base-command.js'
import {renderStatus} from '../render/stack.js'
import {stackStatus, type StatusResult} from '../status/status.js'

export default class Status extends ShingCommand {
  static override summary = 'Show each service (running/desired, health, node, image, since), the live registry, and the URLs.'
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']

  async run(): Promise<StatusResult> {
    const {flags} = await this.parse(Status)
    const result = await stackStatus(this.engine(), this.configDir(flags))
    if (!this.jsonEnabled()) this.log(renderStatus(result))
    return result
  }
}

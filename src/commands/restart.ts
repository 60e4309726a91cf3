import {Args, Flags} from '@oclif/core'

import {ShingCommand} from '../base-command.js'
import {renderProgress} from '../render/stack.js'
import type {ServiceHealth} from '../up/apply.js'
import {checkServiceName, serviceNames} from '../logs/logs.js'
import {restartService} from '../restart/restart.js'

export default class Restart extends ShingCommand {
  static override summary = 'Replace every task of one component, one at a time, and wait until it is healthy again.'
  static override examples = ['<%= config.bin %> restart web', '<%= config.bin %> restart ingest --json']
  static override args = {
    component: Args.string({description: `One of: ${serviceNames.join(', ')}`, required: true}),
  }
  static override flags = {
    timeout: Flags.integer({description: 'Seconds to wait for it to be healthy.', default: 180, min: 5}),
  }

  async run(): Promise<ServiceHealth> {
    const {args, flags} = await this.parse(Restart)
    const result = await restartService(this.engine(), {
      component: checkServiceName(args.component),
      timeoutMs: flags.timeout * 1000,
      onProgress: (e) => this.logToStderr(renderProgress(e)),
    })
    if (!this.jsonEnabled()) this.log(`${result.service}: ${result.running}/${result.desired} healthy after ${result.seconds.toFixed(1)}s`)
    return result
  }
}

import {Args, Flags} from '@oclif/core'

import {ShingCommand} from '../base-command.js'
import {checkServiceName, serviceNames, streamLogs} from '../logs/logs.js'

export default class Logs extends ShingCommand {
  static override summary = 'Print (or follow) the logs of one component, from every box it runs on.'
  static override examples = ['<%= config.bin %> logs web --tail 50', '<%= config.bin %> logs ingest -f --since 10m']
  static override args = {
    component: Args.string({description: `One of: ${serviceNames.join(', ')}`, required: true}),
  }
  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'Keep printing new lines.'}),
    since: Flags.string({description: 'Only lines newer than this: 10m, 2h, 1d, or a date.'}),
    tail: Flags.integer({description: 'Only the last N lines of each task.', min: 0}),
  }

  async run(): Promise<{component: string}> {
    const {args, flags} = await this.parse(Logs)
    const component = checkServiceName(args.component)
    await streamLogs(this.engine(), {
      component,
      follow: flags.follow,
      ...(flags.since ? {since: flags.since} : {}),
      ...(flags.tail !== undefined ? {tail: flags.tail} : {}),
      stdout: process.stdout,
      stderr: process.stderr,
    })
    return {component}
  }
}

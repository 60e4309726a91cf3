import {Flags} from '@oclif/core'

import {ShingCommand} from '../base-command.js'
import {renderProgress, renderUp} from '../render/stack.js'
import {up, type UpResult} from '../up/up.js'

export default class Up extends ShingCommand {
  static override summary = 'Bring every component up as Docker Swarm services, changing only what differs.'
  static override description = `Makes this box a single-node swarm if it is not one, creates the overlay network, secrets and services, core first (MongoDB, Redis, MinIO, edge), and waits for each to be healthy. A second run with nothing changed does nothing. An interrupted run is finished by the next one.`
  static override examples = ['<%= config.bin %> up', '<%= config.bin %> up --dry-run', '<%= config.bin %> up --json']
  static override flags = {
    'dry-run': Flags.boolean({description: 'Print the actions without carrying them out.'}),
    'join-existing': Flags.boolean({description: 'Deploy into a swarm that Shing did not create.'}),
    timeout: Flags.integer({description: 'Seconds each service may take to become healthy.', default: 180, min: 5}),
  }

  async run(): Promise<UpResult> {
    const {flags} = await this.parse(Up)
    const result = await up(this.engine(), {
      dir: this.configDir(flags),
      dryRun: flags['dry-run'],
      joinExisting: flags['join-existing'],
      healthTimeoutMs: flags.timeout * 1000,
      // Progress goes to stderr, so --json output stays clean.
      onProgress: (event) => this.logToStderr(renderProgress(event)),
    })
    if (!this.jsonEnabled()) this.log(renderUp(result))
    return result
  }
}

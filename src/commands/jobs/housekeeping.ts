import {Flags} from '@oclif/core'

import type {HousekeepingReport} from '../../../appliance/contract/index.js'
import {ShingCommand} from '../../base-command.js'
import {runHousekeeping} from '../../jobs/jobs.js'
import {renderHousekeeping} from '../../render/jobs.js'

export default class JobsHousekeeping extends ShingCommand {
  static override summary = 'Run housekeeping now on a worker and print what it removed (expired broadcasts and chat, objects nothing points at, stale state).'
  static override description = 'It also runs by itself every minute. The retention settings are in shing.yaml under `retention:`.'
  static override examples = ['<%= config.bin %> jobs housekeeping --dry-run', '<%= config.bin %> jobs housekeeping --json']
  static override flags = {
    'dry-run': Flags.boolean({description: 'Remove nothing: print what would be removed.', default: false}),
  }

  async run(): Promise<HousekeepingReport> {
    const {flags} = await this.parse(JobsHousekeeping)
    this.logToStderr(flags['dry-run'] ? 'Asking a worker what housekeeping would remove…' : 'Running housekeeping on a worker…')
    const report = await runHousekeeping(this.engine(), flags['dry-run'])
    if (!this.jsonEnabled()) this.log(renderHousekeeping(report))
    return report
  }
}

import {Flags} from '@oclif/core'

import type {JobsSummary} from '../../../appliance/contract/index.js'
import {ShingCommand} from '../../base-command.js'
import {jobsSummary} from '../../jobs/jobs.js'
import {renderJobsSummary} from '../../render/jobs.js'

export default class Jobs extends ShingCommand {
  static override summary = 'Show the worker queues: jobs per queue and state, the workers that are up, and the failed jobs with their errors.'
  static override description = 'Retry failed jobs with `shing jobs retry`, drop one with `shing jobs remove`, run housekeeping now with `shing jobs housekeeping`. The admin area has the same queues in a dashboard at /admin/jobs.'
  static override examples = ['<%= config.bin %> jobs', '<%= config.bin %> jobs --failed 50 --json']
  static override flags = {
    failed: Flags.integer({description: 'How many of the newest failed jobs to show.', default: 20, min: 0, max: 1000}),
  }

  async run(): Promise<JobsSummary> {
    const {flags} = await this.parse(Jobs)
    const summary = await jobsSummary(this.engine(), flags.failed)
    if (!this.jsonEnabled()) this.log(renderJobsSummary(summary))
    return summary
  }
}

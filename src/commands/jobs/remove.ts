import {Args} from '@oclif/core'

import type {JobsRemoveResult} from '../../../appliance/contract/index.js'
import {ShingCommand} from '../../base-command.js'
import {removeJob} from '../../jobs/jobs.js'
import {renderRemoved} from '../../render/jobs.js'

export default class JobsRemove extends ShingCommand {
  static override summary = 'Remove one job (waiting, delayed or failed) from its queue; a running one is refused.'
  static override examples = ['<%= config.bin %> jobs remove vod.transcode@gpu 20261206T101500Z-9f3a1c2b']
  static override args = {
    queue: Args.string({description: 'The queue (as `shing jobs` lists it).', required: true}),
    id: Args.string({description: 'The job id.', required: true}),
  }

  async run(): Promise<JobsRemoveResult> {
    const {args} = await this.parse(JobsRemove)
    const result = await removeJob(this.engine(), args.queue, args.id)
    if (!this.jsonEnabled()) this.log(renderRemoved(result))
    return result
  }
}

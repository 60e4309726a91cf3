import {Args, Flags} from '@oclif/core'

import type {JobsRetryResult} from '../../../appliance/contract/index.js'
import {ShingCommand} from '../../base-command.js'
import {AbortError} from '../../errors.js'
import {retryJobs} from '../../jobs/jobs.js'
import {renderRetried} from '../../render/jobs.js'

export default class JobsRetry extends ShingCommand {
  static override summary = 'Run failed jobs again: one (queue and id), every failed job of a queue, or --all.'
  static override examples = ['<%= config.bin %> jobs retry clip.create 65f0c2…', '<%= config.bin %> jobs retry mail.send', '<%= config.bin %> jobs retry --all']
  static override args = {
    queue: Args.string({description: 'The queue (as `shing jobs` lists it).'}),
    id: Args.string({description: 'The job id (as `shing jobs` lists it).'}),
  }
  static override flags = {
    all: Flags.boolean({description: 'Every failed job of every queue.', default: false}),
  }

  async run(): Promise<JobsRetryResult> {
    const {args, flags} = await this.parse(JobsRetry)
    if (args.queue === undefined && !flags.all) throw new AbortError('say which failed jobs to retry', ['shing jobs retry <queue> <id>', 'shing jobs retry <queue>', 'shing jobs retry --all'])
    if (args.queue !== undefined && flags.all) throw new AbortError('--all retries every queue: give no queue with it')
    const result = await retryJobs(this.engine(), args.queue, args.id)
    if (!this.jsonEnabled()) this.log(renderRetried(result))
    return result
  }
}

import {confirm} from '@inquirer/prompts'
import {Flags} from '@oclif/core'

import {ShingCommand} from '../base-command.js'
import {AbortError} from '../errors.js'
import {renderDown} from '../render/stack.js'
import {down, type DownResult} from '../down/down.js'

export default class Down extends ShingCommand {
  static override summary = 'Remove the stack\'s services, network, secrets and configs; keep the data unless --volumes.'
  static override examples = ['<%= config.bin %> down', '<%= config.bin %> down --volumes --yes']
  static override flags = {
    volumes: Flags.boolean({description: 'Also delete the data volumes (MongoDB, Redis, MinIO, certificates) and the swarm Shing made.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask before deleting data.'}),
  }

  async run(): Promise<DownResult> {
    const {flags} = await this.parse(Down)
    if (flags.volumes && !flags.yes) {
      if (!process.stdin.isTTY) {
        throw new AbortError('--volumes deletes every recording, account and message, and there is no terminal to confirm on.', [
          'Pass --yes to confirm: shing down --volumes --yes',
        ])
      }
      const sure = await confirm({message: 'Delete all Shing data (MongoDB, Redis, MinIO volumes)? This cannot be undone.', default: false})
      if (!sure) throw new AbortError('Nothing was removed.', ['Run shing down without --volumes to keep the data'])
    }
    const result = await down(this.engine(), {removeVolumes: flags.volumes})
    if (!this.jsonEnabled()) this.log(renderDown(result))
    return result
  }
}

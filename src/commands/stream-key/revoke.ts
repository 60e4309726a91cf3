import {Args, Flags} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {renderRevoked} from '../../render/stream-keys.js'
import {revokeStreamKeys, type RevokeStreamKeysResult} from '../../stream-keys/stream-keys.js'

export default class StreamKeyRevoke extends ShingCommand {
  static override summary = "Revoke a channel's stream keys (all, or one by --key-id); publishing with them is refused at once."
  static override examples = ['<%= config.bin %> stream-key revoke alice', '<%= config.bin %> stream-key revoke alice --key-id 3f9a0c1b2d4e']
  static override args = {
    channel: Args.string({description: 'Channel name', required: true}),
  }
  static override flags = {
    'key-id': Flags.string({description: 'Only this key (its id from `shing stream-key list`).'}),
  }

  async run(): Promise<RevokeStreamKeysResult> {
    const {args, flags} = await this.parse(StreamKeyRevoke)
    const result = await revokeStreamKeys(this.engine(), args.channel, flags['key-id'])
    if (!this.jsonEnabled()) this.log(renderRevoked(result))
    return result
  }
}

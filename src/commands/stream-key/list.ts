import {Args} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {renderStreamKeys} from '../../render/stream-keys.js'
import {listStreamKeys, type ListStreamKeysResult} from '../../stream-keys/stream-keys.js'

export default class StreamKeyList extends ShingCommand {
  static override summary = 'List stream keys (channel, key id, created, revoked); never the keys themselves.'
  static override examples = ['<%= config.bin %> stream-key list', '<%= config.bin %> stream-key list alice --json']
  static override args = {
    channel: Args.string({description: 'Only this channel'}),
  }

  async run(): Promise<ListStreamKeysResult> {
    const {args} = await this.parse(StreamKeyList)
    const result = await listStreamKeys(this.engine(), args.channel)
    if (!this.jsonEnabled()) this.log(renderStreamKeys(result))
    return result
  }
}

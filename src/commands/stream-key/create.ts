import {Args} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {renderCreatedStreamKey} from '../../render/stream-keys.js'
import {createStreamKey, type CreateStreamKeyResult} from '../../stream-keys/stream-keys.js'

export default class StreamKeyCreate extends ShingCommand {
  static override summary = 'Create a stream key for a channel; prints the OBS server URL (RTMP, and WHIP for OBS 30+) and the key (shown only once).'
  static override examples = ['<%= config.bin %> stream-key create alice', '<%= config.bin %> stream-key create alice --json']
  static override args = {
    channel: Args.string({description: 'Channel name: a-z, 0-9, _ and -', required: true}),
  }

  async run(): Promise<CreateStreamKeyResult> {
    const {args, flags} = await this.parse(StreamKeyCreate)
    const result = await createStreamKey(this.engine(), this.configDir(flags), args.channel)
    if (!this.jsonEnabled()) this.log(renderCreatedStreamKey(result))
    return result
  }
}

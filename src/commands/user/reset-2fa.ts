import {Args} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {renderTwoFactorReset} from '../../render/users.js'
import {resetTwoFactor, type ResetTwoFactorResult} from '../../users/users.js'

export default class UserResetTwoFactor extends ShingCommand {
  static override summary = 'Turn off the two-factor log-in of an account that lost its phone and its recovery codes.'
  static override description = 'Check who is asking first: afterwards the password alone logs in to the account. The admin area has the same button.'
  static override examples = ['<%= config.bin %> user reset-2fa alice']
  static override args = {
    username: Args.string({description: 'The account\'s username', required: true}),
  }

  async run(): Promise<ResetTwoFactorResult> {
    const {args, flags} = await this.parse(UserResetTwoFactor)
    const result = await resetTwoFactor(this.engine(), this.configDir(flags), args.username)
    if (!this.jsonEnabled()) this.log(renderTwoFactorReset(result))
    return result
  }
}

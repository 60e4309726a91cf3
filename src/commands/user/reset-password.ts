import {Args} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {renderPasswordReset} from '../../render/users.js'
import {resetPassword, type ResetPasswordResult} from '../../users/users.js'

export default class UserResetPassword extends ShingCommand {
  static override summary = "Give an account a new generated password (shown once) and log out all of its sessions."
  static override examples = ['<%= config.bin %> user reset-password alice']
  static override args = {
    username: Args.string({description: 'The account\'s username', required: true}),
  }

  async run(): Promise<ResetPasswordResult> {
    const {args, flags} = await this.parse(UserResetPassword)
    const result = await resetPassword(this.engine(), this.configDir(flags), args.username)
    if (!this.jsonEnabled()) this.log(renderPasswordReset(result))
    return result
  }
}

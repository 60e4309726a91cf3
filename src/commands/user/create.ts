import {Args, Flags} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {renderCreatedUser} from '../../render/users.js'
import {createUser, type CreateUserResult} from '../../users/users.js'

export default class UserCreate extends ShingCommand {
  static override summary = 'Create an account on the running site with a generated password (shown once); --admin makes an admin.'
  static override description =
    'The way to the first admin: an account created here is an admin with --admin, whatever the registration mode. The password is generated on the site and printed once; change it after logging in.'
  static override examples = ['<%= config.bin %> user create alice --email alice@example.org --admin', '<%= config.bin %> user create bob --email bob@example.org --json']
  static override args = {
    username: Args.string({description: '3-30 letters, digits, _ or -', required: true}),
  }
  static override flags = {
    email: Flags.string({description: 'The account\'s e-mail address.', required: true}),
    admin: Flags.boolean({description: 'Make the account an admin.', exclusive: ['moderator']}),
    moderator: Flags.boolean({description: 'Make the account a site moderator.'}),
  }

  async run(): Promise<CreateUserResult> {
    const {args, flags} = await this.parse(UserCreate)
    const role = flags.admin ? 'admin' : flags.moderator ? 'moderator' : 'user'
    const result = await createUser(this.engine(), this.configDir(flags), {username: args.username, email: flags.email, role})
    if (!this.jsonEnabled()) this.log(renderCreatedUser(result))
    return result
  }
}

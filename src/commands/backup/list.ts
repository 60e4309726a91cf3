import {Flags} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {listBackups, type BackupListing} from '../../backup/list.js'
import {renderBackupList} from '../../render/backup.js'

export default class BackupList extends ShingCommand {
  static override summary = 'List the backups in a folder: when, what each holds, and what the folder takes on disk.'
  static override examples = ['<%= config.bin %> backup list --to /var/backups/shing', '<%= config.bin %> backup list --to /var/backups/shing --json']
  static override flags = {
    to: Flags.string({description: 'The folder that holds the backups.', required: true}),
  }

  async run(): Promise<BackupListing> {
    const {flags} = await this.parse(BackupList)
    const result = await listBackups(flags.to)
    if (!this.jsonEnabled()) this.log(renderBackupList(result))
    return result
  }
}

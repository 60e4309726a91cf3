import {confirm} from '@inquirer/prompts'
import {Args, Flags} from '@oclif/core'

import {ShingCommand} from '../base-command.js'
import {getPassphrase, PASSPHRASE_ENV} from '../backup/passphrase.js'
import {restore, type RestoreResult} from '../backup/restore.js'
import {AbortError} from '../errors.js'
import {renderBackupProgress, renderRestore} from '../render/backup.js'
import {renderProgress} from '../render/stack.js'

export default class Restore extends ShingCommand {
  static override summary = 'Restore a backup onto this box: an empty one, or over the running site (asks first).'
  static override description = `Takes a backup folder (<target>/<id>), or a target folder (its newest backup). The backup's shing.yaml and secrets become this box's (the files they replace are kept beside them, named *.before-restore-<id>); the stack comes up; the components that write are stopped; the backup's files, and the objects it will upload, are checked against their checksums before anything is changed; MongoDB, Redis and the object storage are made the backup's, each collection's count and the bucket checked against the manifest; then everything starts again.

On a new box nothing needs to be there first: install shing and run the restore (edit site.hostname in shing.yaml after it if the box's address changed, and run shing up).`
  static override examples = ['<%= config.bin %> restore /var/backups/shing/20261207T230000Z', '<%= config.bin %> restore /var/backups/shing --yes']
  static override args = {
    backup: Args.string({description: 'A backup folder, or the folder that holds the backups (its newest).', required: true}),
  }
  static override flags = {
    yes: Flags.boolean({char: 'y', description: "Replace the running site's data without asking."}),
    'passphrase-file': Flags.string({description: `A file holding the passphrase the backup was made with (else ${PASSPHRASE_ENV}, else asked).`}),
    timeout: Flags.integer({description: 'Minutes the restore may take.', default: 240, min: 1}),
    'health-timeout': Flags.integer({description: 'Seconds each service may take to become healthy.', default: 240, min: 5}),
  }

  async run(): Promise<RestoreResult> {
    const {args, flags} = await this.parse(Restore)
    const result = await restore(this.engine(), {
      dir: this.configDir(flags),
      backup: args.backup,
      passphrase: () => getPassphrase({confirm: false, ...(flags['passphrase-file'] === undefined ? {} : {file: flags['passphrase-file']})}),
      confirmOverSite: async (question) => {
        if (flags.yes) return true
        if (!process.stdin.isTTY) {
          throw new AbortError('This box runs a site, the restore replaces its data, and there is no terminal to confirm on.', ['Pass --yes to confirm: shing restore <backup> --yes'])
        }
        return confirm({message: question, default: false})
      },
      timeoutMs: flags.timeout * 60_000,
      healthTimeoutMs: flags['health-timeout'] * 1000,
      onProgress: (p) => this.logToStderr(renderBackupProgress(p)),
      onStack: (event) => this.logToStderr(renderProgress(event)),
    })
    if (!this.jsonEnabled()) this.log(renderRestore(result))
    return result
  }
}

import {Flags} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {backup, type BackupResult} from '../../backup/backup.js'
import {getPassphrase, PASSPHRASE_ENV} from '../../backup/passphrase.js'
import {renderBackup, renderBackupProgress} from '../../render/backup.js'

export default class Backup extends ShingCommand {
  static override summary = "Back up the running site: MongoDB, Redis's sessions and queues, the object storage, and the config with its secrets (sealed)."
  static override description = `Writes a backup into a folder of this box, by a one-shot task in the swarm that reads the data where the components do. Objects are stored by content and shared between the backups in that folder, so a backup copies only what changed since the last one. shing.yaml and the secrets file are encrypted with a passphrase (scrypt, AES-256-GCM): keep it apart from the backups; a restore needs it. The manifest is written last, so an interrupted backup (Ctrl-C, a full disk) never looks whole, and the next backup removes what it left.

The passphrase comes from --passphrase-file, ${PASSPHRASE_ENV}, or the terminal.`
  static override examples = [
    '<%= config.bin %> backup --to /var/backups/shing',
    '<%= config.bin %> backup --to /var/backups/shing --keep 7 --passphrase-file /root/.shing-backup-passphrase',
  ]
  static override flags = {
    to: Flags.string({description: 'The folder of this box that holds the backups (made if missing).', required: true}),
    keep: Flags.integer({description: 'Keep only the newest N backups in that folder (this one included); older ones and the objects only they held are removed.', min: 1}),
    'passphrase-file': Flags.string({description: `A file whose content seals the config and secrets (else ${PASSPHRASE_ENV}, else asked).`}),
    timeout: Flags.integer({description: 'Minutes the backup may take.', default: 240, min: 1}),
  }

  async run(): Promise<BackupResult> {
    const {flags} = await this.parse(Backup)
    const result = await backup(this.engine(), {
      dir: this.configDir(flags),
      to: flags.to,
      passphrase: () => getPassphrase({confirm: true, ...(flags['passphrase-file'] === undefined ? {} : {file: flags['passphrase-file']})}),
      ...(flags.keep === undefined ? {} : {keep: flags.keep}),
      timeoutMs: flags.timeout * 60_000,
      onProgress: (p) => this.logToStderr(renderBackupProgress(p)),
    })
    if (!this.jsonEnabled()) this.log(renderBackup(result))
    return result
  }
}

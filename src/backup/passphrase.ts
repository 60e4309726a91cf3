import {password} from '@inquirer/prompts'
import {readFile} from 'node:fs/promises'

import {AbortError, errorMessage} from '../errors.js'
import {MIN_PASSPHRASE} from './seal.js'

export const PASSPHRASE_ENV = 'SHING_BACKUP_PASSPHRASE'

/**
 * The passphrase that seals (or opens) a backup's config: from --passphrase-file, the environment,
 * or asked on the terminal (twice when it is new).
 */
export async function getPassphrase(options: {file?: string; confirm: boolean}): Promise<string> {
  let value: string | undefined
  if (options.file !== undefined) {
    try {
      value = (await readFile(options.file, 'utf8')).replace(/\r?\n$/, '')
    } catch (error) {
      throw new AbortError(`Cannot read the passphrase file ${options.file}: ${errorMessage(error)}`, ['Point --passphrase-file at a readable file'])
    }
  } else if (process.env[PASSPHRASE_ENV] !== undefined && process.env[PASSPHRASE_ENV] !== '') value = process.env[PASSPHRASE_ENV]
  else if (process.stdin.isTTY) {
    value = await password({message: 'Passphrase for the config and secrets in the backup', mask: '*'})
    if (options.confirm && (await password({message: 'The same passphrase again', mask: '*'})) !== value) {
      throw new AbortError('The two passphrases differ; nothing was done.', ['Run it again'])
    }
  } else {
    throw new AbortError("A backup's config and secrets are sealed with a passphrase, and there is no terminal to ask for it.", [
      `Give it in a file: --passphrase-file <file>, or in ${PASSPHRASE_ENV}`,
    ])
  }
  if (options.confirm && value.length < MIN_PASSPHRASE) {
    throw new AbortError(`The passphrase is shorter than ${MIN_PASSPHRASE} characters.`, ['Choose a longer one (a few words will do), and keep it apart from the backups'])
  }
  return value
}

import {chmod, open, rename, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {AbortError} from '../errors.js'

/** Writes a file whole or not at all (temp file + rename), with the given mode from the start. */
export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  try {
    const handle = await open(tmp, 'w', mode)
    try {
      await handle.writeFile(content, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await chmod(tmp, mode) // the umask may have narrowed or widened it
    await rename(tmp, file)
  } catch (error) {
    // Nothing half-written stays behind: the old file (if any) is untouched.
    await rm(tmp, {force: true}).catch(() => undefined)
    throw error
  }
}

/**
 * A file system error the admin can fix, said in words with the fix (a full disk, a read-only or
 * foreign directory); undefined for anything else.
 */
export function fileSystemAbort(error: unknown, where: string, nothingChanged: string): AbortError | undefined {
  const code = (error as NodeJS.ErrnoException).code
  const dir = path.dirname(where)
  const user = os.userInfo().username
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new AbortError(`The disk holding ${dir} is full (${code === 'EDQUOT' ? 'quota exceeded' : 'no space left'}); ${nothingChanged}`, [
        `Free some space there (see: df -h ${dir}), or use another directory: --dir <path>`,
      ])
    case 'EROFS':
      return new AbortError(`${dir} is on a read-only file system; ${nothingChanged}`, ['Use a writable directory: --dir <path>'])
    case 'EACCES':
    case 'EPERM':
      return new AbortError(`${user} may not write in ${dir}; ${nothingChanged}`, [
        `Run it as a user who may write there (e.g. with sudo), or use another directory: --dir <path>`,
      ])
    case 'ENOTDIR':
      return new AbortError(`${dir} is not a directory; ${nothingChanged}`, ['Point --dir at a directory'])
    default:
      return undefined
  }
}

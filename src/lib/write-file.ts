import {chmod, open, rename} from 'node:fs/promises'

/** Writes a file whole or not at all (temp file + rename), with the given mode from the start. */
export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  const handle = await open(tmp, 'w', mode)
  try {
    await handle.writeFile(content, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await chmod(tmp, mode) // the umask may have narrowed or widened it
  await rename(tmp, file)
}

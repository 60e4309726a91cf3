import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

let cached: string | undefined

/** The shing package's root (holds templates/ and hardware-profiles/), from src or dist alike. */
export function packageRoot(): string {
  if (cached !== undefined) return cached
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'hardware-profiles'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('cannot find the shing package root (hardware-profiles/)')
    dir = parent
  }
  cached = dir
  return dir
}

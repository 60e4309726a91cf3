import {realpathSync} from 'node:fs'
import path from 'node:path'

let cached: string | undefined

/**
 * How to run this CLI again, as the user can type it: `shing` when that is on the PATH and is
 * this very program, otherwise the path it was started by (e.g. ./bin/run.js).
 */
export function cliCommand(argv1 = process.argv[1], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (argv1 === undefined) return 'shing'
  if (cached !== undefined) return cached
  const self = real(argv1)
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && real(path.join(dir, 'shing')) === self) return (cached = 'shing')
  }
  const relative = path.relative(cwd, argv1)
  cached = relative.startsWith('..') || path.isAbsolute(relative) ? argv1 : `./${relative}`
  return cached
}

function real(file: string): string | undefined {
  try {
    return realpathSync(file)
  } catch {
    return undefined
  }
}

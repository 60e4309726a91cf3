import {execa} from 'execa'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

export interface CliRun {
  exitCode: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T
}

/** Runs the real `shing` binary (bin/run.js over the built dist/) as a user would, no stdin. */
export async function runShing(args: string[], options: {env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number} = {}): Promise<CliRun> {
  const result = await execa(process.execPath, [path.join(repoRoot, 'bin/run.js'), ...args], {
    reject: false,
    stdin: 'ignore',
    cwd: options.cwd ?? repoRoot,
    env: {SHING_LOG_LEVEL: 'warn', ...options.env},
    timeout: options.timeoutMs ?? 120_000,
  })
  const stdout = String(result.stdout)
  return {
    exitCode: result.exitCode ?? -1,
    stdout,
    stderr: String(result.stderr),
    json: <T,>() => JSON.parse(stdout) as T,
  }
}

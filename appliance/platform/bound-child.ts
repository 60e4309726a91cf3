/**
 * A helper process that lives and dies with this one (nginx in front of the relay, coturn beside
 * the SFU): setpriv (util-linux) has the kernel send it SIGTERM when this process dies, even of
 * SIGKILL, and a normal exit kills it too. Its stderr lines (and stdout's, if asked) go to `onLine`.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import {accessSync, constants} from 'node:fs'

export function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export interface BoundChild {
  child: ChildProcess
  pid: number
  /** How it ended: "exit code N" or "signal S". */
  exited: Promise<string>
  /** The last line it wrote to stderr. */
  lastLine(): string
  /** Sends `signal`, then SIGKILL after `graceMs`, and waits for the end. */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>
}

export async function startBoundChild(options: {name: string; binary: string; args: string[]; onLine: (line: string) => void; earlyExitMs?: number; stdout?: boolean}): Promise<BoundChild> {
  const {binary, args} = options
  const stdio: ['ignore', 'ignore' | 'pipe', 'pipe'] = ['ignore', options.stdout === true ? 'pipe' : 'ignore', 'pipe']
  const child: ChildProcess = executable('/usr/bin/setpriv') ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'TERM', '--', binary, ...args], {stdio}) : spawn(binary, args, {stdio})
  const pid = child.pid
  if (pid === undefined) {
    const [error] = (await once(child, 'error')) as [Error]
    throw new Error(`cannot start ${options.name} (${binary}): ${error.message}`)
  }
  let last = ''
  for (const stream of [child.stderr, child.stdout]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (text: string) => {
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue
        last = line
        options.onLine(line)
      }
    })
  }
  const exited = once(child, 'exit').then(([code, signal]) => (signal === null ? `exit code ${String(code)}` : `signal ${String(signal)}`))
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  void exited.then(() => process.removeListener('exit', killOnExit))
  // A helper checks its config and binds before it settles: a quick exit is a failed start.
  const early = await Promise.race([exited, new Promise<undefined>((resolve) => setTimeout(resolve, options.earlyExitMs ?? 300, undefined))])
  if (early !== undefined) throw new Error(`${options.name} did not start (${early}): ${last || 'no message'}`)
  return {
    child,
    pid,
    exited,
    lastLine: () => last,
    stop: async (signal, graceMs) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

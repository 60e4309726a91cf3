import {spawn, type ChildProcess} from 'node:child_process'
import dgram from 'node:dgram'
import {once} from 'node:events'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

/** A server the harness started; stopped by its PID, also when the test fails or the runner dies. */
export interface ManagedProcess {
  readonly name: string
  readonly pid: number
  /** Everything it printed so far (stdout + stderr), for error messages. */
  output(): string
  /** Settles when it exits: its exit code, or the signal that ended it. */
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  stop(): Promise<void>
  /** Sends it a signal (SIGKILL: dies at once, as a crash or an OOM kill) and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<void>
}

export type Readiness =
  | {log: RegExp}
  | {tcp: {host?: string; port: number}}
  | {probe: () => Promise<boolean>}

export interface StartOptions {
  name: string
  command: string
  args: string[]
  env?: NodeJS.ProcessEnv
  cwd?: string
  ready: Readiness
  timeoutMs?: number
  /** SIGTERM grace before SIGKILL. */
  stopTimeoutMs?: number
}

export class HarnessError extends Error {
  override name = 'HarnessError'
}

const live = new Set<ChildProcess>()
let hooked = false
function hookExit(): void {
  if (hooked) return
  hooked = true
  const killAll = (): void => {
    for (const child of live) {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
    }
  }
  process.on('exit', killAll)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll()
      process.exit(130)
    })
  }
}

const tail = (s: string, n = 4000): string => (s.length > n ? s.slice(-n) : s)

export async function startProcess(options: StartOptions): Promise<ManagedProcess> {
  hookExit()
  const {name, command, args, ready} = options
  const timeoutMs = options.timeoutMs ?? 30_000
  let out = ''
  let child: ChildProcess
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  } catch (error) {
    throw new HarnessError(`${name}: cannot start ${command}: ${(error as Error).message}`)
  }
  live.add(child)
  const onData = (chunk: Buffer): void => {
    out += chunk.toString()
    if (out.length > 1_000_000) out = out.slice(-500_000)
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`failed to start: ${error.message}`))
    child.once('exit', (code, signal) => resolve(`exited with ${signal ?? code}`))
  })
  exited.finally(() => live.delete(child))
  const exitStatus = once(child, 'exit').then(
    ([code, signal]) => ({code: code as number | null, signal: signal as NodeJS.Signals | null}),
    () => ({code: null, signal: null}), // it never started: startProcess throws that
  )

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    const done = once(child, 'exit')
    process.kill(child.pid, 'SIGTERM')
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL')
      }
    }, options.stopTimeoutMs ?? 10_000)
    await done
    clearTimeout(timer)
  }

  const deadline = Date.now() + timeoutMs
  const isReady = async (): Promise<boolean> => {
    if ('log' in ready) return ready.log.test(out)
    if ('tcp' in ready) return canConnect(ready.tcp.host ?? '127.0.0.1', ready.tcp.port)
    return ready.probe().catch(() => false)
  }
  let exitReason: string | undefined
  void exited.then((reason) => {
    exitReason = reason
  })
  for (;;) {
    if (exitReason !== undefined) {
      throw new HarnessError(`${name} ${exitReason} before it was ready.\n--- its output ---\n${tail(out)}`)
    }
    if (await isReady()) break
    if (Date.now() > deadline) {
      await stop()
      throw new HarnessError(`${name} was not ready within ${timeoutMs} ms.\n--- its output ---\n${tail(out)}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  if (child.pid === undefined) throw new HarnessError(`${name}: no PID`)
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    const done = once(child, 'exit')
    process.kill(child.pid, signal)
    await done
  }
  return {name, pid: child.pid, output: () => out, exited: exitStatus, stop, kill}
}

export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({host, port})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

const handedOut = new Set<number>()

/**
 * A free TCP port on 127.0.0.1 (the kernel picks). The probe closes at once, so the kernel may
 * offer the same port again: one process never gets the same port twice.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = net.createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    server.close()
    if (address === null || typeof address === 'string') throw new HarnessError('no port')
    if (!handedOut.has(address.port)) {
      handedOut.add(address.port)
      return address.port
    }
  }
}

/** Whether `port` can be bound now, TCP and UDP, on every address. */
async function bindable(port: number): Promise<boolean> {
  const tcp = net.createServer()
  const tcpOk = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false))
    tcp.listen(port, '0.0.0.0', () => resolve(true))
  })
  if (tcpOk) await new Promise((resolve) => tcp.close(resolve))
  if (!tcpOk) return false
  const udp = dgram.createSocket('udp4')
  const udpOk = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false))
    udp.bind(port, '0.0.0.0', () => resolve(true))
  })
  if (udpOk) await new Promise((resolve) => udp.close(() => resolve(undefined)))
  return udpOk
}

/**
 * `size` consecutive ports, free for TCP and UDP: the first. They lie below Linux's ephemeral range
 * (32768 up), so no outgoing connection takes one between this check and the bind of the component
 * they are for (a port from `freePort` may be, as the kernel hands those out).
 */
export async function freePortRange(size: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const first = 20_000 + Math.floor(Math.random() * (12_000 - size))
    const ports = Array.from({length: size}, (_, i) => first + i)
    if (ports.some((port) => handedOut.has(port))) continue
    let free = true
    for (const port of ports) if (!(free = await bindable(port))) break
    if (!free) continue
    for (const port of ports) handedOut.add(port)
    return first
  }
  throw new HarnessError(`no ${size} consecutive free ports between 20000 and 32000`)
}

/** The command names of a process's children, from /proc (a worker's ffmpeg, say). */
export async function childProcessNames(pid: number): Promise<string[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean)
  return Promise.all(children.map(async (child) => (await readFile(`/proc/${child}/comm`, 'utf8').catch(() => '')).trim()))
}

/** Prints how long something took, as the tests' `timing:` lines. */
export function timing(what: string, since: number): void {
  console.log(`timing: ${what} in ${Math.round(performance.now() - since)} ms`)
}

/** A temp directory, removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<{dir: string; remove: () => Promise<void>}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `shing-${prefix}-`))
  return {dir, remove: () => rm(dir, {recursive: true, force: true, maxRetries: 3})}
}

/** Waits for a condition by polling; for things that offer no event. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  {timeoutMs = 30_000, intervalMs = 100} = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : ''
      throw new HarnessError(`timed out after ${timeoutMs} ms waiting for ${what}${why}`)
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

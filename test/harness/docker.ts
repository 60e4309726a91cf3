import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, rmdirSync, rmSync} from 'node:fs'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import Docker from 'dockerode'
import {HarnessError, startProcess, tempDir} from './process.js'

/** A dockerd the harness started for one test; never the system's engine. */
export interface DockerEngine {
  readonly socketPath: string
  readonly docker: Docker
  /** The engine's version string, e.g. `20.10.24+dfsg1`. */
  readonly version: string
  stop(): Promise<void>
}

/** What startDockerd returns: an engine, plus the synchronous cleanup an exit handler can run. */
export interface Dockerd extends DockerEngine {
  /** Kills (by PID) the daemon and everything it started; unmounts what it left. Never throws. */
  reapSync(): void
}

export interface DockerdOptions {
  name: string
  /** Directory owned by this daemon: data-root, exec-root, socket and pidfile live under it. */
  dir: string
  /**
   * Network namespace to run in (one the caller created). Inside one, dockerd may manage
   * iptables and bridges freely; outside one it must not touch the host's networking.
   */
  netns?: string
  /** More dockerd flags, e.g. a TCP listener with TLS. */
  extraArgs?: string[]
  timeoutMs?: number
}

const installHint = 'run scripts/install-test-deps.sh (installs Debian docker.io)'

export function dockerdBinary(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/sbin', '/usr/bin')) {
    const candidate = path.join(dir, 'dockerd')
    if (dir !== '' && existsSync(candidate)) return candidate
  }
  throw new HarnessError(`docker: dockerd not found: ${installHint}`)
}

// Last-resort cleanup when the runner exits with daemons still up (a test that timed out never
// reaches its `finally`). process.ts SIGKILLs dockerd itself; containerd, shims and containers
// would outlive it, so these handlers reap them synchronously.
const exitCleanups = new Set<() => void>()
let exitHooked = false
export function onExit(cleanup: () => void): () => void {
  if (!exitHooked) {
    exitHooked = true
    process.on('exit', () => {
      // Last registered first, like `defer`: a daemon is reaped before its directory is removed.
      for (const fn of [...exitCleanups].reverse()) {
        try {
          fn()
        } catch (error) {
          process.stderr.write(`harness: cleanup at exit failed: ${(error as Error).message}\n`)
        }
      }
    })
  }
  exitCleanups.add(cleanup)
  return () => exitCleanups.delete(cleanup)
}

/**
 * `ip netns exec` gives the command a fresh mount namespace with /sys remounted for the network
 * namespace, which hides the host's cgroup mounts; dockerd then fails with "Devices cgroup isn't
 * mounted". So mount every hierarchy this host has again before exec'ing dockerd. The mounts
 * live in that private mount namespace and vanish with it.
 */
async function cgroupRemountScript(): Promise<string> {
  const lines = (await readFile('/proc/self/cgroup', 'utf8')).trim().split('\n')
  const v1 = lines.map((line) => line.split(':')[1] ?? '').filter((controllers) => controllers !== '')
  if (v1.length === 0) return 'mount -t cgroup2 cgroup2 /sys/fs/cgroup'
  const mounts = v1.map((controllers) => {
    // `name=systemd` is mounted at /sys/fs/cgroup/systemd with `-o none,name=systemd`.
    const dir = controllers.replace(/^name=/, '')
    const opts = controllers.startsWith('name=') ? `none,${controllers}` : controllers
    return `mkdir -p /sys/fs/cgroup/${dir} && mount -t cgroup -o ${opts} cgroup /sys/fs/cgroup/${dir}`
  })
  return ['mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup', ...mounts].join(' && ')
}

/** Starts one dockerd in `dir` and waits until its socket answers a ping. */
export async function startDockerd(options: DockerdOptions): Promise<Dockerd> {
  const {name, dir, netns} = options
  const binary = dockerdBinary()
  if (process.getuid?.() !== 0) throw new HarnessError(`docker: ${name} needs root to run dockerd`)
  // Short names: the socket path must stay under the 108-byte unix socket limit, and containerd
  // puts its own socket under the exec-root.
  const socketPath = path.join(dir, 'd.sock')
  const configFile = path.join(dir, 'daemon.json')
  // Its own cgroup parent, so that every container it ran can be found (and killed) by it.
  const cgroupParent = `shing-test-${randomBytes(4).toString('hex')}`
  await mkdir(dir, {recursive: true})
  await writeFile(configFile, '{}\n') // ignore any /etc/docker/daemon.json on this host
  const args = [
    `--config-file=${configFile}`,
    `--data-root=${path.join(dir, 'data')}`,
    `--exec-root=${path.join(dir, 'x')}`,
    `--pidfile=${path.join(dir, 'dockerd.pid')}`,
    `--cgroup-parent=${cgroupParent}`,
    `-H`,
    `unix://${socketPath}`,
    '--shutdown-timeout=5',
    ...(options.extraArgs ?? []),
    ...(netns === undefined
      ? // In the host's namespace: no iptables rules, no docker0. (Never --default-address-pool
        // here: it deletes an existing docker0 bridge of the host.)
        ['--iptables=false', '--ip-masq=false', '--bridge=none']
      : ['--iptables=true']),
  ]
  const docker = new Docker({socketPath})
  const command = netns === undefined ? binary : 'ip'
  const fullArgs =
    netns === undefined
      ? args
      : ['netns', 'exec', netns, 'sh', '-c', `set -e; ${await cgroupRemountScript()}; exec "$@"`, 'sh', binary, ...args]
  const reapSync = (pid?: number): void => {
    if (pid !== undefined) killQuietly(pid)
    killProcessesMentioning(dir) // containerd and its shims name the exec-root
    killCgroup(cgroupParent) // containers: a killed shim leaves its container running
    if (netns === undefined) unmountUnder(dir) // inside a netns, mounts die with its mount namespace
  }
  let unhook = onExit(() => reapSync())
  const proc = await startProcess({
    name,
    command,
    args: fullArgs,
    // No registry here: swarm tasks use the image already loaded instead of trying to pull it.
    env: {...process.env, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1'},
    ready: {probe: async () => (await docker.ping()).toString() === 'OK'},
    timeoutMs: options.timeoutMs ?? 30_000,
    stopTimeoutMs: 20_000,
  }).catch((error: unknown) => {
    unhook()
    reapSync()
    throw error
  })
  unhook()
  unhook = onExit(() => reapSync(proc.pid))

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Test containers need no grace: a `node` PID 1 ignores SIGTERM and would hold dockerd's
      // shutdown for its whole stop timeout (10 s for swarm tasks).
      await killContainers(name, docker)
      let exited = false
      const stopped = proc.stop().then(() => {
        exited = true
      })
      // dockerd 20.10 logs "Daemon shutdown complete" and then idles ~2.5 s reconnecting to the
      // containerd it already stopped; nothing is left to wait for by then.
      // (proc.stop() itself SIGKILLs after its grace, so this loop ends either way.)
      while (!exited && !/Daemon shutdown complete/.test(proc.output())) await new Promise((r) => setTimeout(r, 50))
      if (!exited) killQuietly(proc.pid)
      await stopped
      reapSync()
      unhook()
    })()
    return stopping
  }
  let version: string
  try {
    version = (await docker.version()).Version
  } catch (error) {
    await stop()
    throw new HarnessError(`docker: ${name} answered ping but not version: ${(error as Error).message}`)
  }
  return {socketPath, docker, version, stop, reapSync: () => reapSync(proc.pid)}
}

/** The host's bridge interfaces (a dockerd's networks are `br-<id>` bridges). */
function hostBridges(): Set<string> {
  try {
    const out = execFileSync('ip', ['-o', 'link', 'show', 'type', 'bridge'], {encoding: 'utf8'})
    return new Set(out.split('\n').flatMap((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? []))
  } catch {
    return new Set()
  }
}

/**
 * Networks a private engine made live on as bridges in the host's namespace after its data
 * root is gone (a test that failed before removing its network): each such leftover takes one
 * of dockerd's default address pools, and once all ~31 are taken no engine can make a network.
 * Removed here: the engine's networks while it runs, then any new bridge it left.
 */
async function removeNetworks(docker: Docker): Promise<void> {
  const networks = await docker.listNetworks().catch(() => [])
  await Promise.allSettled(networks.filter((n) => !['bridge', 'host', 'none'].includes(n.Name)).map((n) => docker.getNetwork(n.Id).remove()))
}

function deleteNewBridges(before: Set<string>): void {
  for (const name of hostBridges()) {
    if (before.has(name) || !name.startsWith('br-')) continue
    try {
      execFileSync('ip', ['link', 'delete', name])
    } catch {
      // gone already
    }
  }
}

/** A private dockerd in the host's network namespace, under a temp dir it removes on stop. */
export async function startDockerEngine(opts: {name?: string} = {}): Promise<DockerEngine> {
  const bridgesBefore = hostBridges()
  const tmp = await tempDir('docker')
  const unhook = onExit(() => rmSync(tmp.dir, {recursive: true, force: true}))
  let engine: Dockerd
  try {
    engine = await startDockerd({name: opts.name ?? 'dockerd', dir: tmp.dir})
  } catch (error) {
    await tmp.remove()
    unhook()
    throw error
  }
  let stopping: Promise<void> | undefined
  return {
    socketPath: engine.socketPath,
    docker: engine.docker,
    version: engine.version,
    stop: () =>
      (stopping ??= (async () => {
        await removeNetworks(engine.docker)
        await engine.stop()
        deleteNewBridges(bridgesBefore)
        await tmp.remove()
        unhook()
      })()),
  }
}

async function killContainers(name: string, docker: Docker): Promise<void> {
  try {
    const running = await docker.listContainers()
    await Promise.allSettled(running.map((c) => docker.getContainer(c.Id).kill()))
  } catch (error) {
    process.stderr.write(`docker: ${name}: cannot kill containers before stopping: ${(error as Error).message}\n`)
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid)
}

const readQuietly = (file: string): string => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return '' // the process exited while we looked: nothing to kill
  }
}

/** Kills (by PID) processes whose command line names `dir`: only ever ours, since it is a fresh temp dir. */
export function killProcessesMentioning(dir: string): void {
  for (const pid of pids()) if (readQuietly(`/proc/${pid}/cmdline`).includes(dir)) killQuietly(pid)
}

/** Kills every process in the cgroup parent this daemon's containers ran under, then removes it. */
function killCgroup(cgroupParent: string): void {
  for (const pid of pids()) if (readQuietly(`/proc/${pid}/cgroup`).includes(`/${cgroupParent}/`)) killQuietly(pid)
  const root = '/sys/fs/cgroup'
  const hierarchies = existsSync(path.join(root, 'cgroup.controllers')) ? [root] : readdirSync(root).map((h) => path.join(root, h))
  for (const hierarchy of hierarchies) {
    const parent = path.join(hierarchy, cgroupParent)
    if (!existsSync(parent)) continue
    // Only empty cgroup directories are left (containers are gone); rmdir removes each.
    for (const child of readdirSync(parent, {withFileTypes: true})) {
      if (child.isDirectory()) rmdirQuietly(path.join(parent, child.name))
    }
    rmdirQuietly(parent)
  }
}

function rmdirQuietly(dir: string): void {
  // EBUSY while a process killed a moment ago is still exiting: retry briefly. Synchronous on
  // purpose, because this also runs in an exit handler.
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 100) {
        process.stderr.write(`docker: cannot remove cgroup ${dir}: ${(error as Error).message}\n`)
        return
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
    }
  }
}

export function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch (error) {
    // ESRCH: it exited between listing and killing, which is what we wanted.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/** Unmounts (lazily, deepest first) whatever dockerd left mounted under `dir` in our mount namespace. */
function unmountUnder(dir: string): void {
  const mountPoints = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
  for (const point of mountPoints) {
    try {
      execFileSync('umount', ['-l', point], {stdio: 'pipe'})
    } catch (error) {
      process.stderr.write(`docker: cannot unmount ${point} left by dockerd: ${(error as Error).message}\n`)
    }
  }
}

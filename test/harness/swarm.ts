import {execFile, execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {rmSync} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'
import type Docker from 'dockerode'
import {overlayEncryptionSupport} from '../../src/hardware/kernel.js'
import {killProcessesMentioning, killQuietly, onExit, startDockerd, type Dockerd} from './docker.js'
import {HarnessError, tempDir, waitFor} from './process.js'

const execFileAsync = promisify(execFile)

// A swarm of N dockerd "boxes" on one machine. Facts of this machine that shape it:
// - Each box is a network namespace of its own, so dockerd can run with iptables and bridges
//   without touching the host. The boxes hang off a Linux bridge in a dedicated "switch"
//   namespace; the 10.200.0.x/24 addresses exist only inside these namespaces.
// - `ip netns exec` hides the host's cgroup v1 mounts; docker.ts mounts them again.
// - The host talks to each box through the box's unix socket on the shared filesystem.
// - This kernel has no IP_VS: the routing mesh and VIP endpoint mode do not work. Services must
//   use `EndpointSpec.Mode: 'dnsrr'` and publish ports in `host` mode.
// - This kernel has no ESP (CONFIG_INET_ESP) and no GCM: an encrypted overlay is created fine
//   but passes no traffic between boxes. `overlayEncryptionWorks()` tells whether it can here.
// - There is no registry: every box needs images locally (see images.ts `ensureImages`).

export interface SwarmBox {
  /** box0, box1, … (box0 is the manager). */
  readonly name: string
  /** The box's address on the swarm network, 10.200.0.x. */
  readonly address: string
  readonly netns: string
  readonly socketPath: string
  readonly docker: Docker
  readonly nodeId: string
  readonly version: string
}

export interface Swarm {
  readonly boxes: readonly SwarmBox[]
  readonly manager: SwarmBox
  stop(): Promise<void>
}

/** Whether this kernel can carry an encrypted overlay (see src/hardware/kernel.ts). */
export function overlayEncryptionWorks(): {works: boolean; why: string} {
  return overlayEncryptionSupport()
}

async function ip(...args: string[]): Promise<void> {
  try {
    await execFileAsync('ip', args)
  } catch (error) {
    const stderr = (error as {stderr?: string}).stderr ?? (error as Error).message
    throw new HarnessError(`swarm: ip ${args.join(' ')} failed: ${stderr.trim()} (is iproute2 installed? run scripts/install-test-deps.sh)`)
  }
}

async function netnsPids(netns: string): Promise<number[]> {
  const {stdout} = await execFileAsync('ip', ['netns', 'pids', netns])
  return stdout.split('\n').filter((s) => s.trim() !== '').map(Number)
}

/**
 * `form: false` starts the boxes (engines in their namespaces) without making them a swarm:
 * for tests of code that forms the swarm itself, such as `shing up`.
 */
export async function startSwarm({boxes: count, form = true}: {boxes: number; form?: boolean}): Promise<Swarm> {
  if (count < 1 || count > 200) throw new HarnessError(`swarm: boxes must be 1..200, got ${count}`)
  const id = randomBytes(3).toString('hex')
  const tmp = await tempDir('swarm')
  const switchNs = `shing-${id}-sw`
  const createdNs: string[] = []
  const engines: Dockerd[] = []
  const boxDirs: string[] = []
  let managerReady = false

  // If the runner exits first (a timed-out test), the same cleanup runs synchronously.
  const unhook = onExit(() => {
    for (const engine of engines) engine.reapSync()
    for (const netns of [...createdNs].reverse()) {
      try {
        const inside = execFileSync('ip', ['netns', 'pids', netns], {encoding: 'utf8'})
        for (const pid of inside.split('\n').filter((s) => s.trim() !== '')) killQuietly(Number(pid))
        execFileSync('ip', ['netns', 'del', netns], {stdio: 'pipe'})
      } catch (error) {
        process.stderr.write(`swarm: cannot delete netns ${netns}: ${(error as Error).message}\n`)
      }
    }
    rmSync(tmp.dir, {recursive: true, force: true})
  })

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => (stopping ??= stopNow())
  const stopNow = async (): Promise<void> => {
    const problems: string[] = []
    // Services first: otherwise the manager reschedules the tasks whose containers stop() kills.
    const manager = engines[0]?.docker
    if (manager !== undefined && (managerReady || !form)) {
      const services = await manager.listServices().catch((error: Error) => {
        // Unformed boxes may or may not have become a swarm since.
        if (form) problems.push(`listing services: ${error.message}`)
        return []
      })
      for (const service of services) {
        await manager.getService(service.ID).remove().catch((error: Error) => problems.push(error.message))
      }
    }
    const results = await Promise.allSettled(engines.map((engine) => engine.stop()))
    for (const r of results) if (r.status === 'rejected') problems.push(String(r.reason))
    for (const dir of boxDirs) killProcessesMentioning(dir)
    for (const netns of [...createdNs].reverse()) {
      // Anything still inside (a shim after a SIGKILL) would keep the namespace alive.
      for (const pid of await netnsPids(netns).catch(() => [])) killQuietly(pid)
      // Deleting a namespace destroys the veth end inside it and with it the peer in the switch.
      await ip('netns', 'del', netns).catch((error: Error) => problems.push(error.message))
    }
    await tmp.remove()
    unhook()
    if (problems.length > 0) throw new HarnessError(`swarm: stop left problems:\n${problems.join('\n')}`)
  }

  try {
    await ip('netns', 'add', switchNs)
    createdNs.push(switchNs)
    await ip('-n', switchNs, 'link', 'set', 'lo', 'up')
    await ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge')
    await ip('-n', switchNs, 'link', 'set', 'br0', 'up')

    const layout = Array.from({length: count}, (_, i) => ({
      name: `box${i}`,
      netns: `shing-${id}-b${i}`,
      address: `10.200.0.${i + 1}`,
      dir: path.join(tmp.dir, `b${i}`),
    }))
    for (const [i, box] of layout.entries()) {
      await ip('netns', 'add', box.netns)
      createdNs.push(box.netns)
      await ip('-n', switchNs, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', box.netns)
      await ip('-n', switchNs, 'link', 'set', `v${i}`, 'master', 'br0', 'up')
      await ip('-n', box.netns, 'addr', 'add', `${box.address}/24`, 'dev', 'eth0')
      await ip('-n', box.netns, 'link', 'set', 'eth0', 'up')
      await ip('-n', box.netns, 'link', 'set', 'lo', 'up')
      await mkdir(box.dir)
      boxDirs.push(box.dir)
    }

    const t0 = Date.now()
    const started = await Promise.allSettled(
      layout.map((box) => startDockerd({name: `dockerd-${box.name}`, dir: box.dir, netns: box.netns})),
    )
    for (const r of started) if (r.status === 'fulfilled') engines.push(r.value)
    const failed = started.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    // allSettled keeps order, and all fulfilled: engines[i] belongs to layout[i].

    if (!form) {
      const boxes: SwarmBox[] = layout.map((box, i) => {
        const engine = engines[i]
        if (engine === undefined) throw new HarnessError(`swarm: ${box.name} has no engine`)
        return {...box, socketPath: engine.socketPath, docker: engine.docker, version: engine.version, nodeId: ''}
      })
      const first = boxes[0]
      if (first === undefined) throw new HarnessError('swarm: no box')
      return {boxes, manager: first, stop}
    }

    const t1 = Date.now()
    const managerBox = layout[0]
    const manager = engines[0]
    if (managerBox === undefined || manager === undefined) throw new HarnessError('swarm: no manager')
    await manager.docker.swarmInit({
      ListenAddr: `${managerBox.address}:2377`,
      AdvertiseAddr: managerBox.address,
    })
    const t2 = Date.now()
    managerReady = true
    const {JoinTokens} = (await manager.docker.swarmInspect()) as {JoinTokens: {Worker: string}}
    await Promise.all(
      layout.slice(1).map((box, i) =>
        engines[i + 1]?.docker.swarmJoin({
          ListenAddr: `${box.address}:2377`,
          AdvertiseAddr: box.address,
          RemoteAddrs: [`${managerBox.address}:2377`],
          JoinToken: JoinTokens.Worker,
        }),
      ),
    )

    const t3 = Date.now()
    const boxes: SwarmBox[] = []
    for (const [i, box] of layout.entries()) {
      const engine = engines[i]
      if (engine === undefined) throw new HarnessError(`swarm: ${box.name} has no engine`)
      const info = (await engine.docker.info()) as {Swarm: {NodeID: string}}
      boxes.push({...box, socketPath: engine.socketPath, docker: engine.docker, version: engine.version, nodeId: info.Swarm.NodeID})
    }
    // Joined is not yet schedulable: wait until the manager sees every node ready.
    await waitFor(
      `all ${count} swarm nodes ready`,
      async () => {
        const nodes = (await manager.docker.listNodes()) as Array<{ID: string; Status?: {State?: string}}>
        return boxes.every((b) => nodes.some((n) => n.ID === b.nodeId && n.Status?.State === 'ready'))
      },
      {timeoutMs: 30_000, intervalMs: 100},
    )
    process.stderr.write(
      `swarm: ${count} engines up in ${t1 - t0} ms, init ${t2 - t1} ms, join ${t3 - t2} ms, all ready ${Date.now() - t3} ms\n`,
    )
    const [first] = boxes
    if (first === undefined) throw new HarnessError('swarm: no boxes')
    return {boxes, manager: first, stop}
  } catch (error) {
    await stop().catch((stopError: Error) => {
      process.stderr.write(`swarm: cleanup after a failed start: ${stopError.message}\n`)
    })
    throw error
  }
}

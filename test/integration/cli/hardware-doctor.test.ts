import {chmod, mkdir, readFile, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runShing} from '../../harness/cli.js'
import {startDockerEngine, type DockerEngine} from '../../harness/docker.js'
import {freePort, tempDir} from '../../harness/process.js'

interface Check {
  id: string
  status: 'pass' | 'warn' | 'fail'
  message: string
  hint?: string
}

let dir: string
let remove: () => Promise<void>
beforeAll(async () => {
  ;({dir, remove} = await tempDir('doctor'))
})
afterAll(async () => remove())

describe('shing hardware --json on this machine', () => {
  it('reports the real CPU, memory, disk, engine and GPUs', async () => {
    const run = await runShing(['hardware', '--json', '--dir', dir])
    expect(run.exitCode, run.stderr).toBe(0)
    const hw = run.json<{
      cpu: {model: string; cores: number; threads: number}
      memory: {totalBytes: number}
      disk: {freeBytes: number}
      docker: {reachable: boolean}
      gpus: unknown[]
      profile: {name: string; reason: string}
    }>()
    expect(hw.cpu.threads).toBe(os.cpus().length)
    expect(hw.cpu.model).not.toBe('')
    expect(hw.memory.totalBytes).toBe(os.totalmem())
    expect(hw.disk.freeBytes).toBeGreaterThan(0)
    expect(typeof hw.docker.reachable).toBe('boolean')
    expect(hw.gpus).toEqual([]) // no GPU on these machines
    expect(hw.profile.reason).toMatch(/no GPU found/)
  })

  it('reads a recorded nvidia-smi of an H100 through the real detection path and notices it has no NVENC', async () => {
    const bin = path.join(dir, 'fake-bin')
    await mkdir(bin, {recursive: true})
    const recorded = path.resolve(import.meta.dirname, '../../fixtures/hardware/nvidia-smi-h100.csv')
    await writeFile(path.join(bin, 'nvidia-smi'), `#!/bin/sh\ncat '${recorded}'\n`)
    await chmod(path.join(bin, 'nvidia-smi'), 0o755)
    const run = await runShing(['hardware', '--json'], {env: {PATH: `${bin}:${process.env.PATH}`}})
    expect(run.exitCode, run.stderr).toBe(0)
    const hw = run.json<{gpus: Array<{name: string; encoders: string[]}>; profile: {name: string; reason: string}}>()
    expect(hw.gpus).toEqual([expect.objectContaining({name: 'NVIDIA H100 80GB HBM3', encoders: []})])
    expect(hw.profile.name).toMatch(/^cpu-/)
    expect(hw.profile.reason).toMatch(/H100 80GB HBM3 has no NVENC/)
    expect(await readFile(recorded, 'utf8')).toContain('H100')
  })
})

describe('shing doctor --json', () => {
  let configDir: string
  beforeAll(async () => {
    configDir = path.join(dir, 'site')
    // Free ports, an IP hostname and no TLS: a config every check can pass on this box.
    const [http, https, rtmp, udp] = [await freePort(), await freePort(), await freePort(), await freePort()]
    const run = await runShing([
      'init', '--yes', '--json', '--dir', configDir, '--hostname', '127.0.0.1', '--tls', 'none',
      '--http-port', String(http), '--https-port', String(https), '--rtmp-port', String(rtmp),
      '--webrtc-ports', `${udp}-${udp + 2}`, '--data-dir', dir,
    ])
    expect(run.exitCode, run.stderr).toBe(0)
  })

  it('with no engine: fails docker.engine with a hint, still prints every check, exits 1', async () => {
    const run = await runShing(['doctor', '--json', '--dir', configDir], {env: {DOCKER_HOST: `unix://${dir}/no-engine.sock`}})
    expect(run.exitCode).toBe(1)
    const {checks, ok} = run.json<{checks: Check[]; ok: boolean}>()
    expect(ok).toBe(false)
    const engine = checks.find((c) => c.id === 'docker.engine')
    expect(engine).toMatchObject({status: 'fail', message: expect.stringContaining('not reachable')})
    expect(engine?.hint).toMatch(/DOCKER_HOST|docker\.io/)
    expect(checks.find((c) => c.id === 'config')?.status).toBe('pass')
  })

  describe('against a real private Docker engine', () => {
    let engine: DockerEngine
    beforeAll(async () => {
      engine = await startDockerEngine({name: 'doctor'})
    })
    afterAll(async () => engine?.stop())

    it('passes every check and exits 0', async () => {
      const run = await runShing(['doctor', '--json', '--dir', configDir], {env: {DOCKER_HOST: `unix://${engine.socketPath}`}})
      const {checks} = run.json<{checks: Check[]}>()
      expect(checks.filter((c) => c.status === 'fail')).toEqual([])
      expect(run.exitCode).toBe(0)
      expect(checks.find((c) => c.id === 'docker.engine')?.message).toContain(engine.version)
      expect(checks.find((c) => c.id === 'docker.swarm')?.message).toMatch(/single-node swarm/)
    })

    it('fails a configured port that something already listens on, naming the key', async () => {
      const {createServer} = await import('node:net')
      const config = await readFile(path.join(configDir, 'shing.yaml'), 'utf8')
      const rtmp = Number(/rtmp: (\d+)/.exec(config)?.[1])
      const server = createServer().listen(rtmp, '0.0.0.0')
      try {
        const run = await runShing(['doctor', '--json', '--dir', configDir], {env: {DOCKER_HOST: `unix://${engine.socketPath}`}})
        expect(run.exitCode).toBe(1)
        const check = run.json<{checks: Check[]}>().checks.find((c) => c.id === 'port.rtmp')
        expect(check).toMatchObject({status: 'fail', hint: expect.stringContaining('ports.rtmp')})
      } finally {
        server.close()
      }
    })
  })
})

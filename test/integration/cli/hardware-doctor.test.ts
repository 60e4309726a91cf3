import {chmod, mkdir, readFile, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import YAML from 'yaml'

import {runShing} from '../../harness/cli.js'
import {startDockerEngine, type DockerEngine} from '../../harness/docker.js'
import {ensureImages} from '../../harness/images.js'
import {startMailpit} from '../../harness/mailpit.js'
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

  it('mail: none is a warning that says who resets passwords; an SMTP server that answers passes; one that does not fails with the fix', async () => {
    const noEngine = {env: {DOCKER_HOST: `unix://${dir}/no-engine.sock`}}
    const mailCheck = async (): Promise<Check | undefined> => (await runShing(['doctor', '--json', '--dir', configDir], noEngine)).json<{checks: Check[]}>().checks.find((c) => c.id === 'mail')
    expect(await mailCheck()).toMatchObject({status: 'warn', message: expect.stringContaining('shing user reset-password'), hint: expect.stringContaining('mail:')})
    const mailpit = await startMailpit()
    try {
      const smtp = (port: number) => (c: Record<string, Record<string, unknown>>): void => {
        c.mail = {mode: 'smtp', host: '127.0.0.1', port, security: 'none', from: 'Live <live@example.test>'}
      }
      const answering = await withConfig(smtp(mailpit.smtpPort), mailCheck)
      expect(answering).toMatchObject({status: 'pass', message: expect.stringMatching(/^SMTP 127\.0\.0\.1:\d+ answers \(220 /)})
      const silent = await withConfig(smtp(await freePort()), mailCheck)
      expect(silent).toMatchObject({status: 'fail', message: expect.stringContaining('does not answer'), hint: expect.stringContaining('mail.host')})
    } finally {
      await mailpit.stop()
    }
  })

  /** Changes shing.yaml for one test, then puts it back. */
  async function withConfig<T>(change: (c: Record<string, Record<string, unknown>>) => void, run: () => Promise<T>): Promise<T> {
    const file = path.join(configDir, 'shing.yaml')
    const original = await readFile(file, 'utf8')
    const doc = YAML.parseDocument(original)
    const value = doc.toJS() as Record<string, Record<string, unknown>>
    change(value)
    for (const [key, v] of Object.entries(value)) doc.set(key, v)
    await writeFile(file, doc.toString())
    try {
      return await run()
    } finally {
      await writeFile(file, original)
    }
  }

  describe('against a real private Docker engine', () => {
    let engine: DockerEngine
    const doctor = () => runShing(['doctor', '--json', '--dir', configDir], {env: {DOCKER_HOST: `unix://${engine.socketPath}`}})
    beforeAll(async () => {
      engine = await startDockerEngine({name: 'doctor'})
      // The images the stack runs are on this box (the appliance under its default name).
      const images = await ensureImages(engine.docker, ['appliance', 'redis', 'ferretdb', 'minio', 'caddy'])
      const file = path.join(configDir, 'shing.yaml')
      const doc = YAML.parseDocument(await readFile(file, 'utf8'))
      doc.set('images', {mongo: images.ferretdb, redis: images.redis, minio: images.minio, caddy: images.caddy})
      await writeFile(file, doc.toString())
    })
    afterAll(async () => engine?.stop())

    it('passes every check and exits 0', async () => {
      const run = await doctor()
      const {checks} = run.json<{checks: Check[]}>()
      expect(checks.filter((c) => c.status === 'fail')).toEqual([])
      expect(run.exitCode).toBe(0)
      expect(checks.find((c) => c.id === 'docker.engine')?.message).toContain(engine.version)
      expect(checks.find((c) => c.id === 'docker.swarm')?.message).toMatch(/single-node swarm/)
      expect(checks.find((c) => c.id === 'image.appliance')).toMatchObject({status: 'pass', message: 'shing/appliance:0.1.0 is on this box'})
      expect(checks.find((c) => c.id === 'capacity')?.status).toBe('pass')
    })

    it('an image neither on the box nor in a reachable registry fails, naming its key and the fix', async () => {
      const run = await withConfig((c) => ((c.images as Record<string, string>).caddy = 'shing-test/nowhere:1'), doctor)
      expect(run.exitCode).toBe(1)
      const check = run.json<{checks: Check[]}>().checks.find((c) => c.id === 'image.caddy')
      expect(check).toMatchObject({status: 'fail', message: expect.stringContaining('shing-test/nowhere:1 is neither on this box nor in a registry'), hint: expect.stringContaining('images.caddy')})
    })

    it('more live ladders than this box transcodes in realtime fails, naming hardware.ingestMaxLadders and the number that fits', async () => {
      const run = await withConfig((c) => (c.hardware!.ingestMaxLadders = 200), doctor)
      expect(run.exitCode).toBe(1)
      const check = run.json<{checks: Check[]}>().checks.find((c) => c.id === 'capacity')
      expect(check?.status).toBe('fail')
      expect(check?.message).toMatch(new RegExp(`hardware.ingestMaxLadders is 200, but ${os.cpus().length} cores transcode \\d+ cpu-\\w+ ladders in realtime`))
      expect(check?.hint).toMatch(/Set hardware.ingestMaxLadders to \d+ or less/)
    })

    it('an NVENC profile on a box without an NVIDIA GPU fails, and so does one on an H100 (no NVENC)', async () => {
      const run = await withConfig((c) => (c.hardware!.profile = 'nvidia-nvenc'), doctor)
      expect(run.exitCode).toBe(1)
      expect(run.json<{checks: Check[]}>().checks.find((c) => c.id === 'gpu.profile')).toMatchObject({
        status: 'fail',
        message: 'hardware.profile is nvidia-nvenc: nvidia-nvenc needs a nvidia-nvenc GPU; this box has no GPU',
      })
      const bin = path.join(dir, 'fake-bin')
      const h100 = await withConfig(
        (c) => (c.hardware!.profile = 'nvidia-nvenc'),
        () => runShing(['doctor', '--json', '--dir', configDir], {env: {DOCKER_HOST: `unix://${engine.socketPath}`, PATH: `${bin}:${process.env.PATH}`}}),
      )
      expect(h100.exitCode).toBe(1)
      expect(h100.json<{checks: Check[]}>().checks.find((c) => c.id === 'gpu.profile')?.message).toMatch(/H100 80GB HBM3 has no NVENC/)
    })

    it('fails a configured port that something already listens on, naming the key', async () => {
      const {createServer} = await import('node:net')
      const config = await readFile(path.join(configDir, 'shing.yaml'), 'utf8')
      const rtmp = Number(/rtmp: (\d+)/.exec(config)?.[1])
      const server = createServer().listen(rtmp, '0.0.0.0')
      try {
        const run = await doctor()
        expect(run.exitCode).toBe(1)
        const check = run.json<{checks: Check[]}>().checks.find((c) => c.id === 'port.rtmp')
        expect(check).toMatchObject({status: 'fail', hint: expect.stringContaining('ports.rtmp')})
      } finally {
        server.close()
      }
    })
  })
})

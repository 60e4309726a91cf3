/**
 * `shing up` and friends against a real Docker engine in its own network namespace (a "box"),
 * with images built offline by the harness. Ends with the line the issue asks for:
 * `stack e2e: <N> services healthy in <s>s; re-up actions=0 in <s>s; recovered in <s>s`.
 */
import {execa} from 'execa'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {repoRoot, runShing, type CliRun} from '../harness/cli.js'
import {waitFor} from '../harness/process.js'
import type {SwarmBox} from '../harness/swarm.js'
import {explain, startSite, type Site} from './site.js'

interface UpJson {
  actions: Array<{kind: string; description: string}>
  services: Array<{service: string; running: number; desired: number}>
  urls: {web: string; rtmp: string}
}
interface StatusJson {
  services: Array<{name: string; running: number; desired: number; healthy: boolean; image: string; tasks: Array<{node: string; state: string; health?: string}>}>
  registry?: Array<{role: string; id: string}>
  registryError?: string
}

let site: Site
let box: SwarmBox
let dir: string
let env: NodeJS.ProcessEnv
const timings = {up: 0, reUp: 0, recovered: 0, healthy: 0}

const shing = (...args: string[]): Promise<CliRun> => site.shing(...args)
const editConfig = (change: (c: Record<string, unknown>) => void): Promise<void> => site.editConfig(change)

beforeAll(async () => {
  site = await startSite()
  ;({box, dir, env} = site)
})

afterAll(async () => {
  await site?.stop()
})

const inBox = (command: string, args: string[]) => site.inBox(command, args)

describe('the stack on one box', () => {
  it('up with an unreachable engine: a clear error, exit 1', async () => {
    const run = await runShing(['up', '--dir', dir], {env: {DOCKER_HOST: `unix://${dir}/nothing-here.sock`}})
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toMatch(/Docker engine is not reachable/)
    expect(run.stderr).toMatch(/DOCKER_HOST/)
  })

  it('up --dry-run lists the actions and changes nothing', async () => {
    const run = await shing('up', '--dry-run', '--json')
    expect(run.exitCode, explain(run)).toBe(0)
    const {actions} = run.json<UpJson>()
    expect(actions[0]?.kind).toBe('swarm.init')
    expect(actions.filter((a) => a.kind === 'service.create')).toHaveLength(9)
    const info = (await box.docker.info()) as {Swarm: {LocalNodeState: string}}
    expect(info.Swarm.LocalNodeState).toBe('inactive')
  })

  it('an image that is nowhere: doctor fails it, up stops before changing anything, naming it; fixed, up does the job', async () => {
    const config = YAML.parse(await readFile(path.join(dir, 'shing.yaml'), 'utf8')) as {images: Record<string, string>}
    const goodCaddy = config.images.caddy
    await editConfig((c) => ((c.images as Record<string, string>).caddy = 'shing-test/no-such-image:1'))
    const doctor = await shing('doctor', '--json')
    expect(doctor.exitCode, explain(doctor)).toBe(1)
    const checks = doctor.json<{checks: Array<{id: string; status: string; message: string}>}>().checks
    expect(checks.find((c) => c.id === 'image.caddy')).toMatchObject({status: 'fail', message: expect.stringContaining('shing-test/no-such-image:1')})
    expect(checks.find((c) => c.id === 'image.appliance')).toMatchObject({status: 'pass'})

    const failed = await shing('up', '--json', '--timeout', '120')
    expect(failed.exitCode, explain(failed)).toBe(1)
    const {error} = failed.json<{error: {kind: string; message: string; actions: string[]}}>()
    expect(error.kind).toBe('abort') // no stack trace: the admin's to fix
    expect(error.message).toMatch(/nothing was changed:\n {2}images\.caddy: shing-test\/no-such-image:1 is neither on this box nor in a registry/)
    expect(error.actions.join('\n')).toMatch(/docker load/)
    const text = await shing('up')
    expect(text.exitCode).toBe(1)
    expect(text.stderr).not.toMatch(/\n\s+at /)
    const info = (await box.docker.info()) as {Swarm: {LocalNodeState: string}}
    expect(info.Swarm.LocalNodeState).toBe('inactive')

    await editConfig((c) => ((c.images as Record<string, string>).caddy = goodCaddy ?? ''))
    const started = Date.now()
    const run = await shing('up', '--json', '--timeout', '240')
    timings.up = (Date.now() - started) / 1000
    expect(run.exitCode, explain(run)).toBe(0)
    const result = run.json<UpJson>()
    expect(result.services).toHaveLength(9)
    for (const s of result.services) expect(s.running, s.service).toBeGreaterThanOrEqual(s.desired)
    expect(result.urls.rtmp).toBe(`rtmp://${box.address}:1935/live`)
    timings.healthy = result.services.length
  })

  it('status agrees: every service healthy, the registry lists ingest, relay and sfu', async () => {
    let last = ''
    const status = await waitFor('the registry to list ingest, relay and sfu', async () => {
      const run = await shing('status', '--json')
      last = explain(run)
      if (run.exitCode !== 0) throw new Error(last)
      const s = run.json<StatusJson>()
      const roles = new Set((s.registry ?? []).map((r) => r.role))
      return ['ingest', 'relay', 'sfu'].every((r) => roles.has(r)) ? s : undefined
    }, {timeoutMs: 30_000, intervalMs: 1000}).catch((error: Error) => {
      throw new Error(`${error.message}\nlast status: ${last}`)
    })
    expect(status.services.map((s) => s.name).sort()).toEqual(['edge', 'ingest', 'minio', 'mongo', 'redis', 'relay', 'sfu', 'web', 'worker'])
    for (const s of status.services) {
      expect(s.healthy, `${s.name}: ${JSON.stringify(s.tasks)}`).toBe(true)
      expect(s.running).toBe(s.desired)
    }
    expect(status.services.find((s) => s.name === 'web')?.running).toBe(2)
  })

  it('the web app answers through the edge on the published HTTP port', async () => {
    const page = await inBox(process.execPath, ['-e', `fetch('http://${box.address}:80/').then(async r => console.log(r.status, await r.text()))`])
    expect(page.stdout).toMatch(/^200 /)
    expect(page.stdout).toMatch(/<h2>Live now<\/h2>/)
  })

  it('shing user create makes the first admin, who logs in through the edge (two web replicas share the session)', async () => {
    const run = await shing('user', 'create', 'siteadmin', '--email', 'admin@example.test', '--admin', '--json')
    expect(run.exitCode, explain(run)).toBe(0)
    const created = run.json<{username: string; role: string; password: string; loginUrl: string}>()
    expect(created).toMatchObject({username: 'siteadmin', role: 'admin', loginUrl: expect.stringMatching(/^http:.*\/login$/)})
    const script = `(async () => {
      const base = 'http://${box.address}:80'
      const form = await fetch(base + '/login')
      const csp = form.headers.get('content-security-policy')
      const cookie = form.headers.getSetCookie()[0].split(';')[0]
      const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())[1]
      const body = new URLSearchParams({_csrf: token, login: 'siteadmin', password: ${JSON.stringify(created.password)}})
      const login = await fetch(base + '/login', {method: 'POST', redirect: 'manual', headers: {cookie, 'content-type': 'application/x-www-form-urlencoded'}, body})
      // The last cookie set wins (the log-in clears the visitor's session, then sets the new one).
      const session = login.headers.getSetCookie().map((c) => c.split(';')[0]).filter((c) => !c.endsWith('=')).pop()
      const pages = []
      for (let i = 0; i < 4; i++) {
        const answer = await fetch(base + '/account', {headers: {cookie: session}, redirect: 'manual'})
        pages.push(answer.status + ' ' + (answer.headers.get('location') ?? '') + ' ' + (await answer.text()))
      }
      const admin = pages.every((p) => p.includes('<dt>Role</dt><dd>admin</dd>'))
      console.log(JSON.stringify({csp, login: login.status, admin, ...(admin ? {} : {cookie: login.headers.getSetCookie(), pages: pages.map((p) => p.slice(0, 300))})}))
    })()`
    const answer = await inBox(process.execPath, ['-e', script])
    expect(JSON.parse(answer.stdout)).toEqual({csp: expect.stringContaining("script-src 'self'"), login: 303, admin: true})

    // The terminal's other way in: a second factor turned off (none was on: nothing changes).
    const reset = await shing('user', 'reset-2fa', 'siteadmin', '--json')
    expect(reset.exitCode, explain(reset)).toBe(0)
    expect(reset.json()).toMatchObject({username: 'siteadmin', wasOn: false})
  })

  it('shing jobs lists the queues and the worker with its capabilities; housekeeping runs on demand; a bad queue name is named', async () => {
    const jobs = await waitFor('the worker to heartbeat', async () => {
      const run = await shing('jobs', '--json')
      if (run.exitCode !== 0) throw new Error(explain(run))
      const summary = run.json<{queues: Array<{queue: string}>; workers: Array<{capabilities: string[]}>}>()
      return summary.workers.length > 0 ? summary : undefined
    }, {timeoutMs: 30_000, intervalMs: 1000})
    expect(jobs.queues.map((q) => q.queue)).toEqual(expect.arrayContaining(['dvr.finalize', 'mail.send', 'housekeeping']))
    expect(jobs.workers[0]?.capabilities).toEqual(['general', 'video-cpu'])
    const text = await shing('jobs')
    expect(text.exitCode, explain(text)).toBe(0)
    expect(text.stdout).toMatch(/Workers \(1\):/)
    const housekeeping = await shing('jobs', 'housekeeping', '--dry-run', '--json')
    expect(housekeeping.exitCode, explain(housekeeping)).toBe(0)
    expect(housekeeping.json()).toMatchObject({dryRun: true})
    const wrong = await shing('jobs', 'remove', 'no-such-queue', '1')
    expect(wrong.exitCode).toBe(1)
    expect(wrong.stderr).toMatch(/there is no queue "no-such-queue"; the queues are: /)
  })

  it('a second up changes nothing', async () => {
    const started = Date.now()
    const run = await shing('up', '--json')
    timings.reUp = (Date.now() - started) / 1000
    expect(run.exitCode, explain(run)).toBe(0)
    expect(run.json<UpJson>().actions).toEqual([])
  })

  it('web replicas 2 → 3 changes only web', async () => {
    await editConfig((c) => ((c.components as {web: {replicas: number}}).web.replicas = 3))
    const run = await shing('up', '--json')
    expect(run.exitCode, explain(run)).toBe(0)
    expect(run.json<UpJson>().actions).toEqual([expect.objectContaining({kind: 'service.update', description: expect.stringContaining('shing_web')})])
    const services = (await box.docker.listServices({status: true, filters: {name: ['shing_web']}} as never)) as unknown as Array<{ServiceStatus: {RunningTasks: number}}>
    expect(services[0]?.ServiceStatus.RunningTasks).toBe(3)
  })

  it('a killed component comes back healthy by itself', async () => {
    const [relay] = await box.docker.listContainers({filters: {label: ['io.shing.component=relay']}})
    expect(relay).toBeDefined()
    const started = Date.now()
    await box.docker.getContainer(relay?.Id ?? '').kill()
    await waitFor('a new healthy relay container', async () => {
      const list = await box.docker.listContainers({filters: {label: ['io.shing.component=relay'], health: ['healthy']}})
      return list.some((c) => c.Id !== relay?.Id)
    }, {timeoutMs: 120_000, intervalMs: 250})
    timings.recovered = (Date.now() - started) / 1000
  })

  it('logs and restart work on a component', async () => {
    const logs = await shing('logs', 'web', '--tail', '5')
    expect(logs.exitCode, explain(logs)).toBe(0)
    expect(logs.stdout.trim()).not.toBe('')
    const restart = await shing('restart', 'relay', '--json')
    expect(restart.exitCode, explain(restart)).toBe(0)
    expect(restart.json()).toMatchObject({service: 'relay', running: 1, desired: 1})
  })

  it('down removes the services and keeps the data volumes', async () => {
    const run = await shing('down', '--json')
    expect(run.exitCode, explain(run)).toBe(0)
    expect(await box.docker.listServices()).toEqual([])
    const volumes = ((await box.docker.listVolumes({filters: {label: ['io.shing.stack=shing']}})).Volumes ?? []).map((v) => v.Name).sort()
    expect(volumes).toEqual(['shing_caddy_data', 'shing_minio_data', 'shing_mongo_data', 'shing_redis_data'])
  })

  it('an up interrupted with Ctrl-C is finished by the next up', async () => {
    const child = execa(process.execPath, [path.join(repoRoot, 'bin/run.js'), 'up', '--dir', dir], {env, reject: false, stdin: 'ignore'})
    let seen = ''
    await new Promise<void>((resolve) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
        if (/create service shing_mongo/.test(seen)) resolve()
      })
      void child.then(() => resolve())
    })
    child.kill('SIGINT')
    const interrupted = await child
    expect(interrupted.exitCode ?? interrupted.signal, seen).not.toBe(0)
    const half = ((await box.docker.listServices()) as Array<{Spec?: {Name?: string}}>).map((x) => x.Spec?.Name)
    expect(half).not.toContain('shing_web')

    const run = await shing('up', '--json')
    expect(run.exitCode, explain(run)).toBe(0)
    const {actions, services} = run.json<UpJson>()
    expect(actions.map((a) => a.kind)).not.toContain('swarm.init')
    expect(services).toHaveLength(9)
    await shing('down')
  })

  it('down --volumes without --yes and without a terminal refuses; with --yes nothing of Shing remains', async () => {
    const refused = await shing('down', '--volumes')
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toMatch(/--yes/)
    const run = await shing('down', '--volumes', '--yes', '--json')
    expect(run.exitCode, explain(run)).toBe(0)
    const d = box.docker
    const label = {label: ['io.shing.stack=shing']}
    expect((await d.listVolumes({filters: label})).Volumes ?? []).toEqual([])
    expect(await d.listContainers({all: true, filters: label})).toEqual([])
    expect((await d.listNetworks()).filter((n) => n.Name.startsWith('shing_'))).toEqual([])
    const info = (await d.info()) as {Swarm: {LocalNodeState: string}}
    expect(info.Swarm.LocalNodeState).toBe('inactive')

    process.stdout.write(
      `stack e2e: ${timings.healthy} services healthy in ${timings.up.toFixed(1)}s; re-up actions=0 in ${timings.reUp.toFixed(1)}s; recovered in ${timings.recovered.toFixed(1)}s\n`,
    )
  })
})

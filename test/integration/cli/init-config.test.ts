import {readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {runShing} from '../../harness/cli.js'
import {tempDir} from '../../harness/process.js'

let dir: string
let remove: () => Promise<void>
beforeEach(async () => {
  ;({dir, remove} = await tempDir('init'))
})
afterEach(async () => remove())

const init = (...extra: string[]) => runShing(['init', '--yes', '--dir', dir, '--hostname', 'shing.example.test', '--json', ...extra])

describe('shing init --yes', () => {
  it('writes a commented shing.yaml and a 0600 secrets file with generated secrets', async () => {
    const run = await init()
    expect(run.exitCode, run.stderr).toBe(0)
    const result = run.json<{configFile: string; secretsFile: string; secrets: {generated: string[]}; profile: {name: string}}>()
    expect(result.configFile).toBe(path.join(dir, 'shing.yaml'))
    expect(result.secrets.generated).toHaveLength(6)

    const config = await readFile(path.join(dir, 'shing.yaml'), 'utf8')
    expect(config).toMatch(/^# Shing site configuration/)
    expect(YAML.parse(config)).toMatchObject({version: 1, site: {hostname: 'shing.example.test'}, tls: {mode: 'auto'}})

    const secretsStat = await stat(path.join(dir, 'shing.secrets.yaml'))
    expect(secretsStat.mode & 0o777).toBe(0o600)
    const secrets = YAML.parse(await readFile(path.join(dir, 'shing.secrets.yaml'), 'utf8')) as Record<string, string>
    expect(secrets.mongoRootPassword).toMatch(/^[\w-]{32}$/)
    expect(secrets.sessionSecret).not.toBe(secrets.streamKeySecret)
    for (const [key, value] of Object.entries(secrets)) if (key !== 'version') expect(config).not.toContain(value)

    const validate = await runShing(['config', 'validate', '--dir', dir, '--json'])
    expect(validate.exitCode).toBe(0)
    expect(validate.json()).toMatchObject({valid: true, problems: []})
  })

  it('refuses to overwrite without --force and changes nothing; --force keeps every secret', async () => {
    expect((await init()).exitCode).toBe(0)
    const before = {
      config: await readFile(path.join(dir, 'shing.yaml'), 'utf8'),
      secrets: await readFile(path.join(dir, 'shing.secrets.yaml'), 'utf8'),
    }

    const again = await init('--http-port', '8080')
    expect(again.exitCode).toBe(1)
    expect(again.json()).toMatchObject({error: {message: expect.stringContaining('already exists; nothing was changed')}})
    expect(await readFile(path.join(dir, 'shing.yaml'), 'utf8')).toBe(before.config)
    expect(await readFile(path.join(dir, 'shing.secrets.yaml'), 'utf8')).toBe(before.secrets)

    const forced = await init('--force', '--http-port', '8080')
    expect(forced.exitCode, forced.stderr).toBe(0)
    expect(forced.json()).toMatchObject({replaced: true, secrets: {generated: [], kept: expect.arrayContaining(['mongoRootPassword'])}})
    expect(await readFile(path.join(dir, 'shing.secrets.yaml'), 'utf8')).toBe(before.secrets)
    expect(YAML.parse(await readFile(path.join(dir, 'shing.yaml'), 'utf8'))).toMatchObject({ports: {http: 8080}})
  })

  it('without --yes and without a terminal, says to pass --yes', async () => {
    const run = await runShing(['init', '--dir', dir])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toMatch(/no terminal.*\n.*--yes/s)
  })

  it('rejects a bad answer before writing anything', async () => {
    const run = await init('--admin-email', 'not-an-email')
    expect(run.exitCode).toBe(1)
    expect(run.json()).toMatchObject({error: {message: expect.stringContaining('site.adminEmail')}})
    await expect(stat(path.join(dir, 'shing.yaml'))).rejects.toThrow(/ENOENT/)
  })
})

describe('shing config validate', () => {
  beforeEach(async () => {
    expect((await init()).exitCode).toBe(0)
  })

  const validate = () => runShing(['config', 'validate', '--dir', dir, '--json'])
  const edit = async (change: (text: string) => string, file = 'shing.yaml') => {
    const p = path.join(dir, file)
    await writeFile(p, change(await readFile(p, 'utf8')))
  }

  it('malformed YAML: exit 1 and the line', async () => {
    await edit((t) => t.replace('hostname: shing.example.test', 'hostname: [shing.example.test'))
    const run = await validate()
    expect(run.exitCode).toBe(1)
    const {problems} = run.json<{problems: Array<{path: string; message: string}>}>()
    expect(problems[0]?.message).toMatch(/malformed YAML/)
    expect(problems[0]?.path).toMatch(/^line \d+/)
  })

  it('an unknown key: exit 1 and its path', async () => {
    await edit((t) => t.replace('  rtmp: 1935', '  rtmp: 1935\n  rtsp: 554'))
    const run = await validate()
    expect(run.exitCode).toBe(1)
    expect(run.json()).toMatchObject({problems: [{path: 'ports.rtsp', message: expect.stringContaining('unknown key')}]})
  })

  it('a wrong type: exit 1, its path and the type wanted (text mode prints one line per problem)', async () => {
    await edit((t) => t.replace('https: 443', 'https: "four-four-three"'))
    const run = await runShing(['config', 'validate', '--dir', dir])
    expect(run.exitCode).toBe(1)
    expect(run.stderr).toContain('shing.yaml: ports.https: wrong type: expected number, received string; set it to a number')
  })

  it('a port clash and a missing secret', async () => {
    await edit((t) => t.replace('rtmp: 1935', 'rtmp: 80'))
    await edit((t) => t.replace(/^redisPassword:.*\n/m, ''), 'shing.secrets.yaml')
    const {problems} = (await validate()).json<{problems: Array<{path: string; message: string}>}>()
    expect(problems.map((p) => p.path).sort()).toEqual(['ports.rtmp', 'redisPassword'])
    expect(problems.find((p) => p.path === 'redisPassword')?.message).toMatch(/missing secret/)
  })

  it('config show redacts every secret', async () => {
    const run = await runShing(['config', 'show', '--dir', dir, '--json'])
    expect(run.exitCode).toBe(0)
    const secrets = YAML.parse(await readFile(path.join(dir, 'shing.secrets.yaml'), 'utf8')) as Record<string, string>
    for (const [key, value] of Object.entries(secrets)) if (key !== 'version') expect(run.stdout).not.toContain(value)
    expect(run.json()).toMatchObject({secrets: {redisPassword: '<redacted>'}})
  })
})

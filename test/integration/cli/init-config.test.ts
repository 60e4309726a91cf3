import {execFile} from 'node:child_process'
import {mkdir, readdir, readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {repoRoot, runShing} from '../../harness/cli.js'
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

  it('prints next steps that run as printed (bin/run.js when shing is not on the PATH)', async () => {
    const run = await init()
    expect(run.exitCode, run.stderr).toBe(0)
    const {next} = run.json<{next: string[]}>()
    expect(next[0]).toBe(`./bin/run.js doctor --dir ${dir}`)
    const doctor = await execFileAsync('sh', ['-c', `${next[0]} --json`], {cwd: repoRoot}).catch((e: {code?: number; stdout?: string}) => e)
    expect((doctor as {code?: number}).code ?? 0).not.toBe(127) // "command not found" would be 127
    expect(JSON.parse(String(doctor.stdout))).toHaveProperty('checks')
  })

  it('with SMTP: the mail section in shing.yaml, its password in the secrets file only; a log-in without a password is refused', async () => {
    const run = await init('--smtp', 'smtp.example.test', '--smtp-user', 'live', '--smtp-password', 'smtp-secret-123', '--mail-from', 'Live <live@example.test>')
    expect(run.exitCode, run.stderr).toBe(0)
    const config = await readFile(path.join(dir, 'shing.yaml'), 'utf8')
    expect(YAML.parse(config)).toMatchObject({mail: {mode: 'smtp', host: 'smtp.example.test', port: 587, security: 'starttls', username: 'live', from: 'Live <live@example.test>'}})
    expect(config).not.toContain('smtp-secret-123')
    expect(config).toContain('# Account mail')
    expect(YAML.parse(await readFile(path.join(dir, 'shing.secrets.yaml'), 'utf8'))).toMatchObject({smtpPassword: 'smtp-secret-123'})
    expect(run.json()).toMatchObject({secrets: {added: ['smtpPassword']}})
    expect((await runShing(['config', 'validate', '--dir', dir, '--json'])).exitCode).toBe(0)
    const shown = await runShing(['config', 'show', '--dir', dir, '--json'])
    expect(shown.stdout).not.toContain('smtp-secret-123')

    // The password removed from the secrets file: validate names it and the fix.
    const secretsFile = path.join(dir, 'shing.secrets.yaml')
    await writeFile(secretsFile, (await readFile(secretsFile, 'utf8')).replace(/^smtpPassword:.*\n/m, ''))
    const invalid = await runShing(['config', 'validate', '--dir', dir, '--json'])
    expect(invalid.exitCode).toBe(1)
    expect(invalid.json()).toMatchObject({problems: [{path: 'smtpPassword', message: expect.stringContaining('mail.username is set')}]})

    const noPassword = await init('--force', '--smtp', 'smtp.example.test:465', '--smtp-user', 'live')
    expect(noPassword.exitCode).toBe(1)
    expect(noPassword.json()).toMatchObject({error: {message: 'An SMTP username needs its password.', actions: [expect.stringContaining('--smtp-password')]}})
  })

  it("the relays' own TLS port: 8443 on a site with TLS, none without; one that cannot work is refused with its fix", async () => {
    const read = async (): Promise<{ports: {relayHttps?: number}}> => YAML.parse(await readFile(path.join(dir, 'shing.yaml'), 'utf8')) as {ports: {relayHttps?: number}}
    expect((await init()).exitCode).toBe(0)
    expect((await read()).ports.relayHttps).toBe(8443)
    expect((await init('--force', '--tls', 'none')).exitCode).toBe(0)
    expect((await read()).ports.relayHttps).toBeUndefined()
    expect((await init('--force', '--tls', 'auto', '--relay-port', '0')).exitCode).toBe(0)
    expect((await read()).ports.relayHttps).toBeUndefined()
    const refused = await init('--force', '--tls', 'none', '--relay-port', '8443')
    expect(refused.exitCode).toBe(1)
    expect(refused.json()).toMatchObject({error: {message: expect.stringContaining('ports.relayHttps: viewers reach the relays directly over HTTPS, which needs a certificate')}})
  })

  it('rejects a bad answer before writing anything', async () => {
    const run = await init('--admin-email', 'not-an-email')
    expect(run.exitCode).toBe(1)
    expect(run.json()).toMatchObject({error: {message: expect.stringContaining('site.adminEmail')}})
    await expect(stat(path.join(dir, 'shing.yaml'))).rejects.toThrow(/ENOENT/)
  })
})

const execFileAsync = promisify(execFile)

describe('shing init where it cannot write', () => {
  let mount: string
  beforeEach(async () => {
    mount = path.join(dir, 'small')
    await mkdir(mount)
    // A 64 KiB file system of our own (the tests run as root, as CI does).
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=755', 'shing-test', mount])
  })
  afterEach(async () => {
    await execFileAsync('umount', [mount])
  })

  it('a full disk: exit 1, says so and what to do, no stack, and no temp file left behind', async () => {
    await writeFile(path.join(mount, 'filler'), Buffer.alloc(128 * 1024)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOSPC') throw error
    })
    const run = await runShing(['init', '--yes', '--dir', mount, '--hostname', 'shing.example.test', '--json'])
    expect(run.exitCode).toBe(1)
    expect(run.json()).toMatchObject({
      error: {kind: 'abort', message: `The disk holding ${mount} is full (no space left); nothing was written`, actions: [expect.stringMatching(/^Free some space there \(see: df -h/)]},
    })
    const text = await runShing(['init', '--yes', '--dir', mount, '--hostname', 'shing.example.test'])
    expect(text.exitCode).toBe(1)
    expect(text.stderr).toMatch(/is full/)
    expect(text.stderr).not.toMatch(/\n\s+at |ENOSPC/)
    expect((await readdir(mount)).sort()).toEqual(['filler'])
  })

  it('a read-only directory: exit 1, says so, nothing written', async () => {
    await execFileAsync('mount', ['-o', 'remount,ro', mount])
    const run = await runShing(['init', '--yes', '--dir', mount, '--hostname', 'shing.example.test', '--json'])
    expect(run.exitCode).toBe(1)
    expect(run.json()).toMatchObject({error: {kind: 'abort', message: `${mount} is on a read-only file system; nothing was written`, actions: ['Use a writable directory: --dir <path>']}})
    expect(await readdir(mount)).toEqual([])
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

  it('an unknown hardware profile, a bad bucket name, an absurd ladder count: each named with its fix', async () => {
    await edit((t) => t.replace(/profile: \S+/, 'profile: cpu-sall').replace('bucket: shing', 'bucket: "Bad_Bucket!"').replace(/ingestMaxLadders: \d+/, 'ingestMaxLadders: 500'))
    const run = await validate()
    expect(run.exitCode).toBe(1)
    const {problems} = run.json<{problems: Array<{path: string; message: string}>}>()
    expect(problems.map((p) => p.path).sort()).toEqual(['hardware.ingestMaxLadders', 'storage.bucket'])
    // The profile is checked once the document parses: fix the rest and it is named.
    await edit((t) => t.replace('bucket: "Bad_Bucket!"', 'bucket: shing').replace('ingestMaxLadders: 500', 'ingestMaxLadders: 2'))
    const text = await runShing(['config', 'validate', '--dir', dir])
    expect(text.exitCode).toBe(1)
    expect(text.stderr).toContain('shing.yaml: hardware.profile: no hardware profile is named "cpu-sall": use one of amd-vaapi, cpu-large, cpu-medium, cpu-small, intel-vaapi, nvidia-nvenc')
    expect(problems.find((p) => p.path === 'storage.bucket')?.message).toMatch(/not a valid S3 bucket name: use 3-63 of a-z/)
    expect(problems.find((p) => p.path === 'hardware.ingestMaxLadders')?.message).toMatch(/out of range/)
  })

  it('config show redacts every secret', async () => {
    const run = await runShing(['config', 'show', '--dir', dir, '--json'])
    expect(run.exitCode).toBe(0)
    const secrets = YAML.parse(await readFile(path.join(dir, 'shing.secrets.yaml'), 'utf8')) as Record<string, string>
    for (const [key, value] of Object.entries(secrets)) if (key !== 'version') expect(run.stdout).not.toContain(value)
    expect(run.json()).toMatchObject({secrets: {redisPassword: '<redacted>'}})
  })
})

/**
 * The engine port's dockerode adapter against real engines over the three ways Shing reaches
 * one: the local socket, TCP with mutual TLS (openssl-made CA and certificates), and SSH (a real
 * OpenSSH server whose sessions dial the engine), with the host key checked against known_hosts.
 */
import {execFile} from 'node:child_process'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {connectEngine, EngineUnreachableError} from '../../../src/engine/docker-engine.js'
import {runShing} from '../../harness/cli.js'
import {startDockerd, type Dockerd} from '../../harness/docker.js'
import {freePort, tempDir} from '../../harness/process.js'
import {startSshd, type Sshd} from '../../harness/sshd.js'
import {requireTool} from '../../harness/tools.js'

const execFileAsync = promisify(execFile)
const openssl = (dir: string, ...args: string[]): Promise<unknown> => execFileAsync(requireTool('openssl'), args, {cwd: dir})

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as `docker` expects them (ca.pem, cert.pem, key.pem). */
async function makeCertificates(dir: string): Promise<{server: string; client: string; other: string}> {
  const server = path.join(dir, 'server')
  const client = path.join(dir, 'client')
  const other = path.join(dir, 'other')
  for (const d of [server, client, other]) await execFileAsync('mkdir', ['-p', d])
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=shing test CA', '-keyout', 'ca-key.pem', '-out', 'ca.pem')
  await writeFile(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  await writeFile(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const [who, ext] of [['server', 'server.ext'], ['client', 'client.ext']] as const) {
    await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}/key.pem`, '-out', `${who}.csr`)
    await openssl(dir, 'x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${who}/cert.pem`)
    await execFileAsync('cp', [path.join(dir, 'ca.pem'), path.join(dir, who, 'ca.pem')])
  }
  // A client of another CA: the engine must refuse it.
  await openssl(other, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=other', '-keyout', 'key.pem', '-out', 'cert.pem')
  await execFileAsync('cp', [path.join(dir, 'ca.pem'), path.join(other, 'ca.pem')])
  return {server, client, other}
}

let tmp: {dir: string; remove: () => Promise<void>}
let engine: Dockerd
let tlsPort: number
let certs: {server: string; client: string; other: string}
let sshd: Sshd

beforeAll(async () => {
  tmp = await tempDir('remote-engines')
  certs = await makeCertificates(path.join(tmp.dir, 'tls'))
  tlsPort = await freePort()
  engine = await startDockerd({
    name: 'remote-engine',
    dir: path.join(tmp.dir, 'd'),
    extraArgs: [
      `-H`,
      `tcp://127.0.0.1:${tlsPort}`,
      '--tlsverify',
      `--tlscacert=${path.join(certs.server, 'ca.pem')}`,
      `--tlscert=${path.join(certs.server, 'cert.pem')}`,
      `--tlskey=${path.join(certs.server, 'key.pem')}`,
    ],
  })
  sshd = await startSshd({dockerHost: `unix://${engine.socketPath}`})
})

afterAll(async () => {
  await sshd?.stop()
  await engine?.stop()
  await tmp?.remove()
})

describe('the engine port', () => {
  it('over the local socket: the engine answers, and a missing socket is one clear error', async () => {
    const info = await connectEngine(`unix://${engine.socketPath}`).info()
    expect(info.version).toBe(engine.version)
    expect(info.swarm.state).toBe('inactive')
    const missing = connectEngine(`unix://${tmp.dir}/nothing.sock`)
    await expect(missing.info()).rejects.toThrow(EngineUnreachableError)
    await expect(missing.info()).rejects.toThrow(/not reachable at unix:\/\/.*nothing\.sock/)
  })

  it('over TCP with mutual TLS (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH as for docker)', async () => {
    const env = {DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.client}
    const tls = connectEngine(`tcp://127.0.0.1:${tlsPort}`, {env})
    expect(tls.address).toBe(`tcp://127.0.0.1:${tlsPort} (TLS)`)
    expect((await tls.info()).version).toBe(engine.version)
    // The CLI the same way: `shing hardware` reports the engine it reached.
    const run = await runShing(['hardware', '--json'], {env: {...env, DOCKER_HOST: `tcp://127.0.0.1:${tlsPort}`}})
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json<{docker: {reachable: boolean; version: string; address: string}}>().docker).toMatchObject({reachable: true, version: engine.version})

    const stranger = connectEngine(`tcp://127.0.0.1:${tlsPort}`, {env: {DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.other}})
    const refused = await stranger.info().catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(EngineUnreachableError)
    expect((refused as EngineUnreachableError).actions.join(' ')).toMatch(/TLS handshake failed: DOCKER_CERT_PATH/)
    const plain = connectEngine(`tcp://127.0.0.1:${tlsPort}`, {env: {}})
    await expect(plain.info()).rejects.toThrow()
  })

  describe('over SSH, with the host key checked', () => {
    const target = (): string => `ssh://root@${sshd.host}:${sshd.port}`
    const knownHosts = (name: string): string => path.join(tmp.dir, name)

    it('an unknown host is refused before anything is sent, with its fingerprint and how to trust it', async () => {
      await writeFile(knownHosts('empty'), '')
      const ssh = connectEngine(target(), {identityFile: sshd.identityFile, knownHostsFile: knownHosts('empty'), env: {}})
      const error = await ssh.info().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(EngineUnreachableError)
      expect((error as Error).message).toContain(`[127.0.0.1]:${sshd.port} is not in ${knownHosts('empty')}`)
      expect((error as Error).message).toContain(sshd.hostKeyFingerprint)
      expect((error as EngineUnreachableError).actions.join(' ')).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1`)
    })

    it('a fingerprint the admin confirmed is accepted, and the engine answers through `docker system dial-stdio`', async () => {
      await writeFile(knownHosts('empty'), '')
      const ssh = connectEngine(target(), {identityFile: sshd.identityFile, knownHostsFile: knownHosts('empty'), hostKeyFingerprint: sshd.hostKeyFingerprint, env: {}})
      const info = await ssh.info()
      expect(info.version).toBe(engine.version)
      expect(await ssh.listContainers({labels: {}})).toEqual([])
    })

    it('a host in known_hosts (hashed, as ssh writes it) is accepted; the same name with another key is refused as a possible interception', async () => {
      const file = knownHosts('known')
      await writeFile(file, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`)
      await execFileAsync(requireTool('ssh-keygen'), ['-H', '-f', file]) // hashes the host names in place
      const ssh = connectEngine(target(), {identityFile: sshd.identityFile, knownHostsFile: file, env: {}})
      expect((await ssh.info()).version).toBe(engine.version)

      const changed = knownHosts('changed')
      const otherKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKk7qo3y0fXW7cIh1hm2u1yZtZ2q0t9Gf2b8kUu2m6sJ'
      await writeFile(changed, `[127.0.0.1]:${sshd.port} ${otherKey}\n`)
      const spoofed = connectEngine(target(), {identityFile: sshd.identityFile, knownHostsFile: changed, env: {}})
      const error = await spoofed.info().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(EngineUnreachableError)
      expect((error as Error).message).toMatch(/is not the one .* lists for it: someone may be intercepting/)
    })

    it('a key the box does not accept: a clear error naming how to check the login', async () => {
      const file = knownHosts('known2')
      await writeFile(file, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`)
      const stranger = path.join(tmp.dir, 'stranger')
      await execFileAsync(requireTool('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-f', stranger])
      const ssh = connectEngine(target(), {identityFile: stranger, knownHostsFile: file, env: {}})
      const error = await ssh.info().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(EngineUnreachableError)
      expect((error as EngineUnreachableError).actions.join(' ')).toContain(`ssh -p ${sshd.port} root@127.0.0.1 docker version`)
    })
  })
})

/**
 * A real OpenSSH server (Debian's openssh-server) on 127.0.0.1, key-only, private to one test: its
 * own host key, one client key pair, and sessions whose DOCKER_HOST points at a chosen engine,
 * so that `ssh://root@127.0.0.1:<port>` reaches that engine the way an added box's engine is
 * reached (`docker system dial-stdio` over SSH).
 */
import {execFile} from 'node:child_process'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'

import {freePort, HarnessError, startProcess, tempDir, type ManagedProcess} from './process.js'
import {requireTool} from './tools.js'

const execFileAsync = promisify(execFile)

export interface Sshd {
  host: string
  port: number
  /** The client's private key file (OpenSSH format) and the server's host public key line. */
  identityFile: string
  hostPublicKey: string
  /** `SHA256:…` of the host key, as ssh-keygen -lf prints it. */
  hostKeyFingerprint: string
  dir: string
  process: ManagedProcess
  stop(): Promise<void>
}

async function sshKeygen(args: string[]): Promise<string> {
  try {
    return (await execFileAsync(requireTool('ssh-keygen'), args)).stdout
  } catch (error) {
    throw new HarnessError(`sshd: ssh-keygen ${args.join(' ')} failed (is openssh-client installed? run scripts/install-test-deps.sh): ${(error as Error).message}`)
  }
}

export async function startSshd(options: {dockerHost: string; name?: string}): Promise<Sshd> {
  const tmp = await tempDir('sshd')
  const dir = tmp.dir
  const hostKey = path.join(dir, 'host_ed25519')
  const identityFile = path.join(dir, 'client_ed25519')
  await sshKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', 'shing-test-host', '-f', hostKey])
  await sshKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', 'shing-test-client', '-f', identityFile])
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${identityFile}.pub`, 'utf8'), {mode: 0o600})
  const port = await freePort()
  const config = path.join(dir, 'sshd_config')
  await writeFile(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PrintMotd no',
      // The session's docker CLI (dial-stdio) talks to the test's engine, not the host's.
      `SetEnv DOCKER_HOST=${options.dockerHost}`,
      '',
    ].join('\n'),
  )
  // sshd's privilege separation directory (Debian's service creates it at boot; here nothing has).
  await mkdir('/run/sshd', {recursive: true, mode: 0o755})
  const proc = await startProcess({
    name: options.name ?? 'sshd',
    command: requireTool('sshd'),
    args: ['-D', '-e', '-f', config],
    ready: {tcp: {host: '127.0.0.1', port}},
    timeoutMs: 15_000,
  }).catch(async (error: unknown) => {
    await tmp.remove()
    throw new HarnessError(`sshd: cannot start (is openssh-server installed? run scripts/install-test-deps.sh): ${(error as Error).message}`)
  })
  const hostPublicKey = (await readFile(`${hostKey}.pub`, 'utf8')).trim()
  const fingerprint = (await sshKeygen(['-l', '-E', 'sha256', '-f', `${hostKey}.pub`])).split(/\s+/)[1] ?? ''
  return {
    host: '127.0.0.1',
    port,
    identityFile,
    hostPublicKey,
    hostKeyFingerprint: fingerprint,
    dir,
    process: proc,
    stop: async () => {
      await proc.stop()
      await tmp.remove()
    },
  }
}

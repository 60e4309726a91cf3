import {randomBytes} from 'node:crypto'
import {realpathSync} from 'node:fs'
import path from 'node:path'

import {freePort, startProcess, tempDir} from './process.js'
import {commandOutput, requireTool} from './tools.js'

/** Any S3 endpoint: callers use path-style requests and these credentials, nothing MinIO-only. */
export interface S3Server {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string
  readonly host: string
  readonly port: number
  readonly accessKey: string
  readonly secretKey: string
  readonly region: string
  readonly version: string
  stop(): Promise<void>
}

/** The real MinIO server on a free port of 127.0.0.1 with random root credentials. */
export async function startS3(): Promise<S3Server> {
  const command = requireTool('minio')
  const [port, consolePort] = [await freePort(), await freePort()]
  const accessKey = `shing${randomBytes(6).toString('hex')}`
  const secretKey = randomBytes(18).toString('hex')
  const data = await tempDir('s3')
  try {
    const version = await minioVersion(command)
    const server = await startProcess({
      name: 'minio',
      command,
      args: [
        'server', path.join(data.dir, 'data'),
        '--address', `127.0.0.1:${port}`,
        // The console is off (MINIO_BROWSER); pinned anyway so nothing listens beyond 127.0.0.1.
        '--console-address', `127.0.0.1:${consolePort}`,
        // Its default is ~/.minio/certs: keep the tests out of the home directory.
        '--certs-dir', path.join(data.dir, 'certs'),
        '--quiet',
      ],
      env: {
        ...process.env,
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
      },
      ready: {probe: async () => (await fetch(`http://127.0.0.1:${port}/minio/health/live`)).ok},
    })
    return {
      endpoint: `http://127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      accessKey,
      secretKey,
      region: 'us-east-1',
      version,
      stop: async () => {
        await server.stop()
        await data.remove()
      },
    }
  } catch (error) {
    await data.remove()
    throw error
  }
}

/**
 * install-test-deps.sh links minio -> minio-<Go module version>: read that first (free; running
 * `minio --version` costs ~0.5 s, and a `go install` build says only DEVELOPMENT.GOGET there),
 * then a release name, then the Go build info.
 */
async function minioVersion(command: string): Promise<string> {
  const linked = /^minio-(v\S+)$/.exec(path.basename(realpathSync(command)))?.[1]
  if (linked !== undefined) return `minio ${linked}`
  const said = await commandOutput(command, ['--version'])
  const release = /minio version (RELEASE\.\S+)/.exec(said)?.[1]
  if (release !== undefined) return `minio ${release}`
  const buildInfo = await commandOutput('go', ['version', '-m', command]).catch(() => '')
  const module = /\bmod\s+github\.com\/minio\/minio\s+(\S+)/.exec(buildInfo)?.[1]
  return `minio ${module ?? said.split('\n')[0]?.trim() ?? 'unknown'}`
}

import {HarnessError, freePort, startProcess, tempDir} from './process.js'
import {requireTool} from './tools.js'

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string
  readonly port: number
  readonly version: string
  /** Kills it (SIGKILL: as a crash) and starts it again on the same port; without persistence it comes back empty. */
  restart(options?: {downMs?: number}): Promise<void>
  stop(): Promise<void>
}

export interface StartRedisOptions {
  /** AOF on (fsync every second), for tests that check durability; off by default for speed. */
  persistence?: boolean
  /** requirepass: clients must AUTH with it (the stack's Redis always has one). */
  password?: string
}

/** Debian's redis-server on a free port of 127.0.0.1, its data in a temp dir removed on stop. */
export async function startRedis({persistence = false, password}: StartRedisOptions = {}): Promise<RedisServer> {
  const command = requireTool('redis-server')
  const port = await freePort()
  const data = await tempDir('redis')
  const launch = () =>
    startProcess({
      name: 'redis-server',
      command,
      args: [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--dir', data.dir,
        '--save', '',
        '--appendonly', persistence ? 'yes' : 'no',
        '--daemonize', 'no',
        '--logfile', '',
        ...(password === undefined ? [] : ['--requirepass', password]),
      ],
      ready: {log: /Ready to accept connections/},
    })
  try {
    let server = await launch()
    const version = /Redis version=(\S+?),/.exec(server.output())?.[1]
    if (version === undefined) {
      await server.stop()
      throw new HarnessError(`redis-server: no version in its log\n${server.output()}`)
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      version,
      restart: async ({downMs = 0} = {}) => {
        process.kill(server.pid, 'SIGKILL')
        await server.exited
        await new Promise((resolve) => setTimeout(resolve, downMs))
        server = await launch()
      },
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

import {mkdir} from 'node:fs/promises'
import path from 'node:path'

import {MongoClient} from 'mongodb'

import {canConnect, freePort, startProcess, tempDir} from './process.js'
import {requireTool} from './tools.js'

/** A MongoDB wire protocol server (FerretDB here; production runs the `mongo` image). */
export interface MongoWireServer {
  /** mongodb://127.0.0.1:PORT/ */
  readonly url: string
  /** e.g. `ferretdb v1.24.0 (mongodb 7.0.42)`: what buildInfo reports. */
  readonly version: string
  stop(): Promise<void>
}

export interface StartMongoWireOptions {
  /**
   * A user that clients must authenticate as (SCRAM-SHA-256, in the admin database), like the
   * stack's MongoDB root user. FerretDB v1 needs its experimental new auth for that; `url` stays
   * without credentials.
   */
  auth?: {username: string; password: string}
}

/** FerretDB v1 on its SQLite backend on a free port of 127.0.0.1, its files in a temp dir. */
export async function startMongoWire({auth}: StartMongoWireOptions = {}): Promise<MongoWireServer> {
  const command = requireTool('ferretdb')
  const port = await freePort()
  const url = `mongodb://127.0.0.1:${port}/`
  const credentials = auth === undefined ? '' : `${encodeURIComponent(auth.username)}:${encodeURIComponent(auth.password)}@`
  const probeUrl = `mongodb://${credentials}127.0.0.1:${port}/${auth === undefined ? '' : '?authSource=admin'}`
  const data = await tempDir('mongo-wire')
  const sqlite = path.join(data.dir, 'sqlite')
  try {
    // FerretDB wants the SQLite directory to exist already.
    await mkdir(sqlite)
    const server = await startProcess({
      name: 'ferretdb',
      command,
      args: [
        '--handler=sqlite',
        `--sqlite-url=file:${sqlite}/`,
        `--state-dir=${data.dir}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--telemetry=disable',
        '--debug-addr=-',
        '--log-level=warn',
        ...(auth === undefined
          ? []
          : ['--test-enable-new-auth', '--setup-database=admin', `--setup-username=${auth.username}`, `--setup-password=${auth.password}`]),
      ],
      // TCP first: a driver that finds nothing listening waits out its server selection timeout.
      ready: {probe: async () => (await canConnect('127.0.0.1', port)) && ping(probeUrl)},
    })
    try {
      const version = await buildVersion(probeUrl)
      const stop = async (): Promise<void> => {
        await server.stop()
        await data.remove()
      }
      return {url, version, stop}
    } catch (error) {
      await server.stop()
      throw error
    }
  } catch (error) {
    await data.remove()
    throw error
  }
}

// Readiness is what the driver sees: a `ping` answered over the wire protocol.
async function ping(url: string): Promise<boolean> {
  const client = new MongoClient(url, {serverSelectionTimeoutMS: 500, connectTimeoutMS: 500})
  try {
    await client.connect()
    const answer = await client.db('admin').command({ping: 1})
    return answer.ok === 1
  } finally {
    await client.close()
  }
}

async function buildVersion(url: string): Promise<string> {
  const client = new MongoClient(url, {serverSelectionTimeoutMS: 5000})
  try {
    const info = await client.db('admin').command({buildInfo: 1})
    const mongodb = String(info.version)
    return typeof info.ferretdbVersion === 'string' ? `ferretdb ${info.ferretdbVersion} (mongodb ${mongodb})` : `mongodb ${mongodb}`
  } finally {
    await client.close()
  }
}

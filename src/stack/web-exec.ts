/**
 * Talking to the running stack from the CLI without publishing any port: run a command inside a
 * web container on this box (it has the overlay network, the environment and the secrets).
 */
import {PassThrough} from 'node:stream'
import {finished} from 'node:stream/promises'

import type Docker from 'dockerode'

import {componentPorts} from '../../appliance/contract/index.js'
import {AbortError} from '../errors.js'
import {dockerName, labels, STACK} from './names.js'

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** The first running web container of the stack on this box. */
async function webContainer(docker: Docker): Promise<Docker.Container> {
  const containers = await docker.listContainers({filters: {label: [`${labels.component}=web`, `${labels.stack}=${STACK}`], status: ['running']}})
  const first = containers[0]
  if (first === undefined) {
    throw new AbortError(`no running ${dockerName('web')} container on this box`, ['Start the stack: shing up', 'See what runs: shing status'])
  }
  return docker.getContainer(first.Id)
}

/** Runs cmd (argv, no shell) in a web container and collects its output and exit code. */
export async function execInWeb(docker: Docker, cmd: string[]): Promise<ExecResult> {
  const container = await webContainer(docker)
  const exec = await container.exec({Cmd: cmd, AttachStdout: true, AttachStderr: true})
  const stream = await exec.start({hijack: true, stdin: false})
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out: Buffer[] = []
  const err: Buffer[] = []
  stdout.on('data', (c: Buffer) => out.push(c))
  stderr.on('data', (c: Buffer) => err.push(c))
  docker.modem.demuxStream(stream, stdout, stderr)
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve)
    stream.on('close', resolve)
    stream.on('error', reject)
  })
  stdout.end()
  stderr.end()
  await Promise.all([finished(stdout), finished(stderr)])
  const {ExitCode} = await exec.inspect()
  return {exitCode: ExitCode ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8')}
}

export interface WebResponse {
  status: number
  body: string
}

/** GET a path of the web API from inside a web container (node's fetch: the image has no curl). */
export async function fetchInWeb(docker: Docker, apiPath: string): Promise<WebResponse> {
  const url = `http://127.0.0.1:${componentPorts.web.http}${apiPath}`
  const script = `fetch(${JSON.stringify(url)}).then(async r=>process.stdout.write(JSON.stringify({status:r.status,body:await r.text()}))).catch(e=>{console.error(e.message);process.exit(1)})`
  const result = await execInWeb(docker, ['node', '-e', script])
  if (result.exitCode !== 0) throw new Error(`GET ${apiPath} in the web container failed: ${result.stderr.trim() || `exit ${result.exitCode}`}`)
  return JSON.parse(result.stdout) as WebResponse
}

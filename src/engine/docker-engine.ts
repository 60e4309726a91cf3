/**
 * The dockerode adapter of the engine port. Every call names what it did when it fails (with the
 * engine's own words), an unreachable engine becomes one AbortError that says how to fix it, and
 * removing what is already gone counts as done.
 */
import {PassThrough, type Readable, type Writable} from 'node:stream'
import {finished} from 'node:stream/promises'

import Docker from 'dockerode'

import {AbortError, errorMessage} from '../errors.js'
import {logger} from '../logger.js'
import type {
  BuildOptions,
  ContainerInfo,
  Engine,
  EngineInfo,
  ExecResult,
  ImageProgress,
  Labels,
  LogOptions,
  NamedObject,
  NetworkInfo,
  NodeInfo,
  ServiceInfo,
  ServiceSpec,
  SwarmInitOptions,
  TaskInfo,
} from './engine.js'
import {checkHostKey, knownHostsName, readKnownHosts, type HostKeyVerdict} from './known-hosts.js'
import {describeTarget, parseEngineTarget, type EngineTarget, type TargetOptions} from './target.js'

const log = logger('engine')

/** Oldest engine Shing supports: Debian 12's docker.io (20.10, API 1.41). */
export const MIN_ENGINE_VERSION = '20.10.0'

/** A call the engine answered with an error (the engine's message, its HTTP status). */
export class EngineError extends Error {
  override name = 'EngineError'
  constructor(
    message: string,
    readonly statusCode: number | undefined,
    readonly reason: string,
  ) {
    super(message)
  }
}

/** The engine did not answer at all. */
export class EngineUnreachableError extends AbortError {
  override name = 'EngineUnreachableError'
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE'])

function isConnectionFailure(error: unknown): boolean {
  const e = error as {code?: string; level?: string; statusCode?: number; message?: string}
  if (e.statusCode !== undefined) return false
  if (e.code !== undefined && (CONNECTION_CODES.has(e.code) || /^ERR_(SSL|TLS)_|^(UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|CERT_)/.test(e.code))) return true
  if (/SSL routines|certificate/i.test(e.message ?? '')) return true // a TLS handshake the engine or we refused
  if (typeof e.level === 'string' && e.level.startsWith('client-')) return true // ssh2: socket, authentication, timeout
  return /timed? ?out|socket hang up|All configured authentication methods failed|Host denied/i.test(e.message ?? '')
}

/** The engine's own words: dockerode puts them in `json.message` or the reason. */
function engineReason(error: unknown): string {
  const e = error as {json?: {message?: string} | string; reason?: string; message?: string}
  if (typeof e.json === 'object' && e.json?.message) return e.json.message
  if (typeof e.json === 'string' && e.json.trim() !== '') return e.json.trim()
  return e.message ?? String(error)
}

function unreachable(address: string, error: unknown, hostKey: HostKeyVerdict | undefined, target: EngineTarget): EngineUnreachableError {
  if (target.kind === 'ssh' && hostKey !== undefined && hostKey.status !== 'known') {
    const name = knownHostsName(target.host, target.port)
    if (hostKey.status === 'changed') {
      return new EngineUnreachableError(
        `The SSH host key of ${name} (${hostKey.fingerprint}) is not the one ${target.knownHostsFile} lists for it: someone may be intercepting the connection. Nothing was sent.`,
        [`If the box was reinstalled, check the new key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and forget the old one: ssh-keygen -R '${name}'`],
      )
    }
    return new EngineUnreachableError(`${name} is not in ${target.knownHostsFile}, and its host key (${hostKey.fingerprint}) was not confirmed. Nothing was sent.`, [
      `Check the fingerprint on the box (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add the key: ssh-keyscan -p ${target.port} ${target.host} >> ${target.knownHostsFile}`,
    ])
  }
  const why = errorMessage(error)
  const actions =
    target.kind === 'socket'
      ? ['Start Docker on this box (systemctl start docker), or point DOCKER_HOST at the engine', 'Check with: shing doctor']
      : target.kind === 'ssh'
        ? [`Check that you can log in: ssh -p ${target.port} ${target.user}@${target.host} docker version`, 'Check with: shing doctor']
        : target.tls && /SSL|certificate/i.test(why)
          ? [`The TLS handshake failed: DOCKER_CERT_PATH must hold the ca.pem the engine's certificate is signed by, and a cert.pem/key.pem signed by the CA the engine trusts (its --tlscacert)`]
          : [`Check that the engine listens on ${target.host}:${target.port}${target.tls ? ' with TLS (DOCKER_CERT_PATH holds ca.pem, cert.pem, key.pem)' : ''}`, 'Check with: shing doctor']
  return new EngineUnreachableError(`The Docker engine is not reachable at ${address}: ${why}`, actions)
}

function dockerOptions(target: EngineTarget, timeoutMs: number | undefined, hostVerifier: (key: Buffer) => boolean): Docker.DockerOptions {
  const timeout = timeoutMs === undefined ? {} : {timeout: timeoutMs}
  switch (target.kind) {
    case 'socket':
      return {socketPath: target.path, ...timeout}
    case 'tcp':
      return target.tls
        ? {host: target.host, port: target.port, protocol: 'https', ca: target.tls.ca, cert: target.tls.cert, key: target.tls.key, ...timeout}
        : {host: target.host, port: target.port, protocol: 'http', ...timeout}
    case 'ssh':
      // No per-request timeout over SSH: Node's http client would call setTimeout on the ssh2
      // channel, which has none. The connection itself times out (readyTimeout).
      return {
        host: target.host,
        port: target.port,
        username: target.user,
        protocol: 'ssh',
        sshOptions: {
          ...(target.privateKey === undefined ? {} : {privateKey: target.privateKey}),
          ...(target.agent === undefined ? {} : {agent: target.agent}),
          hostVerifier,
          readyTimeout: 15_000,
        },
      } as Docker.DockerOptions
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

function toService(raw: Docker.Service & Record<string, unknown>): ServiceInfo {
  const r = raw as unknown as {
    ID: string
    Version?: {Index?: number}
    Spec?: ServiceSpec
    PreviousSpec?: ServiceSpec
    ServiceStatus?: {RunningTasks?: number; DesiredTasks?: number}
    UpdateStatus?: {State?: string; Message?: string}
    Endpoint?: {Spec?: {Ports?: Array<{Protocol?: string; PublishedPort?: number}>}}
  }
  const spec = r.Spec ?? {}
  const ports = spec.EndpointSpec?.Ports ?? r.Endpoint?.Spec?.Ports ?? []
  return {
    id: r.ID,
    name: spec.Name ?? r.ID,
    labels: spec.Labels ?? {},
    version: r.Version?.Index ?? 0,
    spec,
    ...(r.PreviousSpec === undefined ? {} : {previousSpec: r.PreviousSpec}),
    running: r.ServiceStatus?.RunningTasks ?? 0,
    desired: r.ServiceStatus?.DesiredTasks ?? 0,
    ...(r.UpdateStatus?.State === undefined ? {} : {update: {state: r.UpdateStatus.State, ...(r.UpdateStatus.Message ? {message: r.UpdateStatus.Message} : {})}}),
    publishedPorts: ports.flatMap((p) => (p.PublishedPort === undefined ? [] : [{protocol: p.Protocol ?? 'tcp', port: p.PublishedPort}])),
  }
}

function toTask(raw: unknown): TaskInfo {
  const t = raw as {
    ID: string
    NodeID?: string
    CreatedAt?: string
    DesiredState?: string
    Spec?: {ForceUpdate?: number; ContainerSpec?: {Labels?: Labels; Image?: string}}
    Status?: {State?: string; Err?: string; Message?: string; Timestamp?: string; ContainerStatus?: {ContainerID?: string}}
  }
  const image = t.Spec?.ContainerSpec?.Image
  const optional = {
    nodeId: str(t.NodeID),
    createdAt: str(t.CreatedAt),
    desiredState: str(t.DesiredState),
    state: str(t.Status?.State),
    error: str(t.Status?.Err),
    message: str(t.Status?.Message),
    timestamp: str(t.Status?.Timestamp),
    containerId: str(t.Status?.ContainerStatus?.ContainerID),
    image: str(image),
  }
  return {
    id: t.ID,
    forceUpdate: t.Spec?.ForceUpdate ?? 0,
    containerLabels: t.Spec?.ContainerSpec?.Labels ?? {},
    ...(Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) as Partial<TaskInfo>),
  }
}

/** Reads an engine progress stream (pull, load, build) to its end, reporting as it goes. */
function followProgress(docker: Docker, stream: NodeJS.ReadableStream, onProgress: (p: ImageProgress) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: Array<{error?: string; errorDetail?: {message?: string}}>) => {
        const failed = output?.find((o) => o.error !== undefined || o.errorDetail !== undefined)
        if (error !== null) reject(error)
        else if (failed !== undefined) reject(new Error(failed.errorDetail?.message ?? failed.error ?? 'failed'))
        else resolve()
      },
      (event: {status?: string; stream?: string; id?: string; progressDetail?: {current?: number; total?: number}; error?: string}) => {
        if (event.progressDetail?.current !== undefined) {
          onProgress({kind: 'bytes', done: event.progressDetail.current, ...(event.progressDetail.total ? {total: event.progressDetail.total} : {}), ...(event.id ? {id: event.id} : {})})
        } else if (event.stream !== undefined && event.stream.trim() !== '') {
          onProgress({kind: 'status', text: event.stream.trimEnd()})
        } else if (event.status !== undefined) {
          onProgress({kind: 'status', text: event.id ? `${event.id}: ${event.status}` : event.status})
        }
      },
    )
  })
}

export interface ConnectOptions extends TargetOptions {
  /** Per request; long operations (logs -f, build, pull, load) have none. Default 60 s. */
  timeoutMs?: number
}

/** The engine at `host` (or DOCKER_HOST, or the local socket). Nothing is sent until the first call. */
export function connectEngine(host?: string, options: ConnectOptions = {}): Engine {
  const target = parseEngineTarget(host, options)
  return new DockerEngine(target, options.timeoutMs ?? 60_000)
}

class DockerEngine implements Engine {
  readonly address: string
  private readonly quick: Docker
  private readonly long: Docker
  private hostKey: HostKeyVerdict | undefined

  constructor(
    private readonly target: EngineTarget,
    timeoutMs: number,
  ) {
    this.address = describeTarget(target)
    const verify = (key: Buffer): boolean => {
      if (target.kind !== 'ssh') return true
      const verdict = checkHostKey(readKnownHosts(target.knownHostsFile), knownHostsName(target.host, target.port), key)
      this.hostKey = verdict.status === 'unknown' && verdict.fingerprint === target.hostKeyFingerprint ? {status: 'known'} : verdict
      if (this.hostKey.status !== 'known') log.warn({host: target.host, ...this.hostKey}, 'ssh host key refused')
      return this.hostKey.status === 'known'
    }
    this.quick = new Docker(dockerOptions(target, timeoutMs, verify))
    this.long = new Docker(dockerOptions(target, undefined, verify))
  }

  /** Runs one engine call; failures come back naming it, and an engine that is not there as one AbortError. */
  private async call<T>(what: string, run: () => Promise<T>, options: {missingOk?: boolean} = {}): Promise<T | undefined> {
    try {
      return await run()
    } catch (error) {
      const status = (error as {statusCode?: number}).statusCode
      if (options.missingOk === true && status === 404) return undefined
      if (isConnectionFailure(error)) throw unreachable(this.address, error, this.hostKey, this.target)
      const reason = engineReason(error)
      log.debug({what, status, reason}, 'engine call failed')
      throw new EngineError(`${what}: ${reason}`, status, reason)
    }
  }

  private async must<T>(what: string, run: () => Promise<T>): Promise<T> {
    return (await this.call(what, run)) as T
  }

  async info(): Promise<EngineInfo> {
    const [version, info] = await this.must('ask the engine its version', () => Promise.all([this.quick.version(), this.quick.info()]))
    const i = info as {
      OperatingSystem?: string
      Runtimes?: Record<string, unknown>
      DefaultRuntime?: string
      Swarm?: {LocalNodeState?: string; NodeID?: string; ControlAvailable?: boolean; Cluster?: {ID?: string}}
    }
    const nodeId = str(i.Swarm?.NodeID)
    const clusterId = str(i.Swarm?.Cluster?.ID)
    return {
      version: version.Version,
      apiVersion: version.ApiVersion,
      os: i.OperatingSystem ?? 'unknown',
      swarm: {
        state: i.Swarm?.LocalNodeState ?? 'inactive',
        isManager: i.Swarm?.ControlAvailable === true,
        ...(nodeId === undefined ? {} : {nodeId}),
        ...(clusterId === undefined ? {} : {clusterId}),
      },
      runtimes: Object.keys(i.Runtimes ?? {}).sort(),
      ...(i.DefaultRuntime ? {defaultRuntime: i.DefaultRuntime} : {}),
    }
  }

  async swarmInit(options: SwarmInitOptions): Promise<void> {
    await this.must('make this box a swarm', () =>
      this.quick.swarmInit({ListenAddr: '0.0.0.0:2377', ...(options.advertiseAddr ? {AdvertiseAddr: options.advertiseAddr} : {}), Spec: {Labels: options.labels}}),
    )
  }

  async swarmLabels(): Promise<Labels> {
    const swarm = (await this.must('read the swarm', () => this.quick.swarmInspect())) as {Spec?: {Labels?: Labels}}
    return swarm.Spec?.Labels ?? {}
  }

  async swarmLeave(): Promise<void> {
    await this.must('leave the swarm', () => this.quick.swarmLeave({force: true}))
  }

  async listNodes(): Promise<NodeInfo[]> {
    const nodes = await this.must('list the swarm nodes', () => this.quick.listNodes())
    return nodes.map((n) => {
      const raw = n as {ID: string; Description?: {Hostname?: string}; Spec?: {Labels?: Labels; Role?: string; Availability?: string}; Status?: {State?: string; Addr?: string}}
      const address = str(raw.Status?.Addr)
      return {
        id: raw.ID,
        hostname: raw.Description?.Hostname ?? raw.ID,
        labels: raw.Spec?.Labels ?? {},
        role: raw.Spec?.Role ?? 'worker',
        availability: raw.Spec?.Availability ?? 'active',
        state: raw.Status?.State ?? 'unknown',
        ...(address === undefined ? {} : {address}),
      }
    })
  }

  async labelNode(nodeId: string, add: Labels): Promise<void> {
    const node = this.quick.getNode(nodeId)
    const current = (await this.must(`read node ${nodeId}`, () => node.inspect())) as {Version: {Index: number}; Spec: {Labels?: Labels; Role: string; Availability: string}}
    await this.must(`label node ${nodeId}`, () => node.update({version: current.Version.Index, ...current.Spec, Labels: {...current.Spec.Labels, ...add}}))
  }

  async listNetworks(name: string): Promise<NetworkInfo[]> {
    const networks = await this.must(`list networks named ${name}`, () => this.quick.listNetworks({filters: {name: [name]}}))
    return networks.filter((n) => n.Name === name).map((n) => ({name: n.Name, options: n.Options ?? {}}))
  }

  async createOverlayNetwork(options: {name: string; labels: Labels; encrypted: boolean}): Promise<void> {
    await this.must(`create network ${options.name}`, () =>
      this.quick.createNetwork({
        Name: options.name,
        Driver: 'overlay',
        Attachable: true,
        CheckDuplicate: true,
        Labels: options.labels,
        Options: options.encrypted ? {encrypted: ''} : {},
      }),
    )
  }

  async removeNetwork(name: string): Promise<void> {
    await this.call(`remove network ${name}`, () => this.quick.getNetwork(name).remove(), {missingOk: true})
  }

  async listSecrets(labels: Labels): Promise<NamedObject[]> {
    const secrets = await this.must('list secrets', () => this.quick.listSecrets({filters: labelFilter(labels)}))
    return secrets.map((s) => ({id: s.ID, name: s.Spec?.Name ?? s.ID}))
  }

  async createSecret(options: {name: string; labels: Labels; value: string}): Promise<void> {
    await this.must(`create secret ${options.name}`, () =>
      this.quick.createSecret({Name: options.name, Labels: options.labels, Data: Buffer.from(options.value, 'utf8').toString('base64')}),
    )
  }

  async removeSecret(name: string): Promise<void> {
    await this.call(`remove secret ${name}`, () => this.quick.getSecret(name).remove(), {missingOk: true})
  }

  async listConfigs(labels: Labels): Promise<NamedObject[]> {
    const configs = await this.must('list configs', () => this.quick.listConfigs({filters: labelFilter(labels)}))
    return configs.map((c) => ({id: c.ID, name: (c.Spec as {Name?: string} | undefined)?.Name ?? c.ID}))
  }

  async createConfig(options: {name: string; labels: Labels; value: string}): Promise<void> {
    await this.must(`create config ${options.name}`, () =>
      this.quick.createConfig({Name: options.name, Labels: options.labels, Data: Buffer.from(options.value, 'utf8').toString('base64')}),
    )
  }

  async removeConfig(name: string): Promise<void> {
    await this.call(`remove config ${name}`, () => this.quick.getConfig(name).remove(), {missingOk: true})
  }

  async listServices(filter: {labels?: Labels; name?: string}): Promise<ServiceInfo[]> {
    const filters = {...(filter.labels ? labelFilter(filter.labels) : {}), ...(filter.name ? {name: [filter.name]} : {})}
    const services = await this.must('list services', () => this.quick.listServices({status: true, filters} as Docker.ServiceListOptions))
    const all = services.map((s) => toService(s as Docker.Service & Record<string, unknown>))
    // The name filter matches prefixes: keep exact names only.
    return filter.name === undefined ? all : all.filter((s) => s.name === filter.name)
  }

  async inspectService(name: string): Promise<ServiceInfo | undefined> {
    const [found] = await this.listServices({name})
    return found
  }

  async createService(spec: ServiceSpec): Promise<void> {
    await this.must(`create service ${spec.Name}`, () => this.quick.createService(spec))
  }

  async updateService(name: string, version: number, spec: ServiceSpec): Promise<void> {
    await this.must(`update service ${name}`, () =>
      this.quick.getService(name).update({_query: {version}, _body: spec} as unknown as Docker.ServiceSpec),
    )
  }

  async removeService(name: string): Promise<void> {
    await this.call(`remove service ${name}`, () => this.quick.getService(name).remove(), {missingOk: true})
  }

  async listTasks(filter: {service: string; desiredState?: string}): Promise<TaskInfo[]> {
    const filters = {service: [filter.service], ...(filter.desiredState ? {'desired-state': [filter.desiredState]} : {})}
    const tasks = await this.must(`list the tasks of ${filter.service}`, () => this.quick.listTasks({filters}))
    return tasks.map(toTask)
  }

  async serviceLogs(name: string, options: LogOptions, out: {stdout: Writable; stderr: Writable}): Promise<void> {
    const client = options.follow ? this.long : this.quick
    const query = {
      stdout: true,
      stderr: true,
      timestamps: options.timestamps ?? false,
      follow: options.follow,
      ...(options.since === undefined ? {} : {since: options.since}),
      ...(options.tail === undefined ? {} : {tail: options.tail}),
    }
    const result = await this.must(`read the logs of ${name}`, () => client.getService(name).logs(query as never) as unknown as Promise<unknown>)
    if (Buffer.isBuffer(result)) {
      const {stdout, stderr} = demuxFrames(result)
      out.stdout.write(stdout)
      out.stderr.write(stderr)
      return
    }
    const stream = result as NodeJS.ReadableStream
    client.modem.demuxStream(stream, out.stdout, out.stderr)
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve)
      stream.on('close', resolve)
      stream.on('error', reject)
    })
  }

  async listContainers(filter: {labels: Labels; running?: boolean}): Promise<ContainerInfo[]> {
    const filters = {...labelFilter(filter.labels), ...(filter.running ? {status: ['running']} : {})}
    const containers = await this.must('list containers', () => this.quick.listContainers({all: filter.running !== true, filters}))
    return containers.map((c) => ({id: c.Id, labels: c.Labels ?? {}, state: c.State}))
  }

  async containerHealth(id: string): Promise<string | undefined> {
    const info = await this.call(`inspect container ${id}`, () => this.quick.getContainer(id).inspect(), {missingOk: true})
    return info?.State.Health?.Status
  }

  async exec(containerId: string, cmd: string[]): Promise<ExecResult> {
    const container = this.long.getContainer(containerId)
    const exec = await this.must(`exec in ${containerId.slice(0, 12)}`, () => container.exec({Cmd: cmd, AttachStdout: true, AttachStderr: true}))
    const stream = await this.must(`exec in ${containerId.slice(0, 12)}`, () => exec.start({hijack: true, stdin: false}))
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const out: Buffer[] = []
    const err: Buffer[] = []
    stdout.on('data', (c: Buffer) => out.push(c))
    stderr.on('data', (c: Buffer) => err.push(c))
    this.long.modem.demuxStream(stream, stdout, stderr)
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve)
      stream.on('close', resolve)
      stream.on('error', reject)
    })
    stdout.end()
    stderr.end()
    await Promise.all([finished(stdout), finished(stderr)])
    const {ExitCode} = await this.must(`exec in ${containerId.slice(0, 12)}`, () => exec.inspect())
    return {exitCode: ExitCode ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8')}
  }

  async listVolumes(labels: Labels): Promise<string[]> {
    const {Volumes} = await this.must('list volumes', () => this.quick.listVolumes({filters: labelFilter(labels)}))
    return (Volumes ?? []).map((v) => v.Name)
  }

  async removeVolume(name: string): Promise<void> {
    await this.call(`remove volume ${name}`, () => this.quick.getVolume(name).remove(), {missingOk: true})
  }

  async hasImage(ref: string): Promise<boolean> {
    return (await this.call(`inspect image ${ref}`, () => this.quick.getImage(ref).inspect(), {missingOk: true})) !== undefined
  }

  async registryHasImage(ref: string): Promise<{available: true} | {available: false; reason: string}> {
    try {
      await this.quick.getImage(ref).distribution()
      return {available: true}
    } catch (error) {
      if (isConnectionFailure(error)) throw unreachable(this.address, error, this.hostKey, this.target)
      return {available: false, reason: engineReason(error)}
    }
  }

  async pullImage(ref: string, onProgress: (p: ImageProgress) => void): Promise<void> {
    await this.must(`pull ${ref}`, async () => followProgress(this.long, await this.long.pull(ref), onProgress))
  }

  async buildImage(context: Readable, options: BuildOptions, onProgress: (p: ImageProgress) => void): Promise<void> {
    await this.must(`build ${options.tag}`, async () => {
      const stream = await this.long.buildImage(context, {
        t: options.tag,
        dockerfile: options.dockerfile,
        rm: true,
        forcerm: true,
        ...(options.buildArgs ? {buildargs: options.buildArgs} : {}),
        ...(options.networkMode ? {networkmode: options.networkMode} : {}),
        ...(options.labels ? {labels: options.labels} : {}),
      })
      await followProgress(this.long, stream, onProgress)
    })
  }

  async loadImage(tar: Readable, onProgress: (p: ImageProgress) => void = () => undefined): Promise<void> {
    await this.must('load an image', async () => followProgress(this.long, await this.long.loadImage(tar), onProgress))
  }

  async saveImage(ref: string): Promise<Readable> {
    return (await this.must(`save ${ref}`, () => this.long.getImage(ref).get())) as unknown as Readable
  }
}

function labelFilter(labels: Labels): {label: string[]} {
  return {label: Object.entries(labels).map(([k, v]) => `${k}=${v}`)}
}

/**
 * Docker multiplexes stdout and stderr of a non-TTY container into frames: an 8-byte header
 * (stream, 0, 0, 0, big-endian length) then the payload. Service logs come that way.
 */
export function demuxFrames(buffer: Buffer): {stdout: string; stderr: string} {
  let stdout = ''
  let stderr = ''
  let offset = 0
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset]
    const length = buffer.readUInt32BE(offset + 4)
    if (stream === undefined || stream > 2 || offset + 8 + length > buffer.length) {
      return {stdout: stdout + buffer.subarray(offset).toString('utf8'), stderr} // not framed (a TTY): plain text
    }
    const payload = buffer.subarray(offset + 8, offset + 8 + length).toString('utf8')
    if (stream === 2) stderr += payload
    else stdout += payload
    offset += 8 + length
  }
  return {stdout, stderr}
}

/** Compares dotted versions numerically: -1, 0, 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0)
  const pb = b.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  return 0
}

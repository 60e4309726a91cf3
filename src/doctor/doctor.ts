import {lookup} from 'node:dns/promises'
import net, {isIP} from 'node:net'
import os from 'node:os'

import {validateConfig} from '../config/load.js'
import type {ShingConfig} from '../config/schema.js'
import type {HardwareProfile} from '../../appliance/contract/index.js'
import {compareVersions, MIN_ENGINE_VERSION} from '../engine/docker-engine.js'
import type {Engine} from '../engine/engine.js'
import {errorMessage} from '../errors.js'
import {chooseProfile, fit, unmet} from '../hardware/choose-profile.js'
import {detectHardware, type HardwareReport} from '../hardware/detect.js'
import {overlayEncryptionSupport} from '../hardware/kernel.js'
import {loadProfiles} from '../hardware/profiles.js'
import {checkImages, describeImage} from '../images/ensure-images.js'
import {tcpPortFree, udpPortFree} from '../lib/ports.js'
import {shingVersion} from '../lib/version.js'
import {stackImages} from '../stack/plan.js'
import {stackLabels} from '../up/read-stack.js'

export type CheckStatus = 'pass' | 'warn' | 'fail'

export interface Check {
  id: string
  status: CheckStatus
  message: string
  /** What to do about it; present on warn and fail. */
  hint?: string
}

export interface DoctorResult {
  ok: boolean
  summary: {pass: number; warn: number; fail: number}
  checks: Check[]
}

const GiB = 1024 ** 3
const gib = (bytes: number): string => `${(bytes / GiB).toFixed(1)} GiB`

function checkEngine(hw: HardwareReport): Check {
  const d = hw.docker
  if (!d.reachable) {
    return {
      id: 'docker.engine',
      status: 'fail',
      message: `Docker engine not reachable at ${d.address}: ${d.error}`,
      hint: 'Install and start Docker (apt-get install docker.io && systemctl start docker), or point DOCKER_HOST at a running engine',
    }
  }
  if (d.version !== undefined && compareVersions(d.version, MIN_ENGINE_VERSION) < 0) {
    return {
      id: 'docker.engine',
      status: 'fail',
      message: `Docker ${d.version} is older than ${MIN_ENGINE_VERSION}`,
      hint: `Upgrade Docker to ${MIN_ENGINE_VERSION} or newer`,
    }
  }
  return {id: 'docker.engine', status: 'pass', message: `Docker ${d.version} (API ${d.apiVersion}) at ${d.address}`}
}

function checkSwarm(hw: HardwareReport): Check {
  if (!hw.docker.reachable) {
    return {id: 'docker.swarm', status: 'fail', message: 'swarm state unknown: the engine is not reachable', hint: 'Fix docker.engine first'}
  }
  const swarm = hw.docker.swarm
  switch (swarm.state) {
    case 'inactive':
      return {id: 'docker.swarm', status: 'pass', message: 'not in a swarm yet: `shing up` will make this box a single-node swarm'}
    case 'active':
      return swarm.isManager
        ? {id: 'docker.swarm', status: 'pass', message: `swarm manager (node ${swarm.nodeId})`}
        : {
            id: 'docker.swarm',
            status: 'fail',
            message: 'this engine is a swarm worker; Shing must run on a manager',
            hint: 'Run shing on the swarm manager, or leave the swarm: docker swarm leave',
          }
    default:
      return {
        id: 'docker.swarm',
        status: 'warn',
        message: `swarm state is "${swarm.state}"`,
        hint: 'Wait for the node to settle, or reset it: docker swarm leave --force',
      }
  }
}

function checkOverlay(config: ShingConfig): Check {
  const support = overlayEncryptionSupport()
  if (!config.swarm.encryptOverlay) {
    return {id: 'swarm.overlay', status: 'pass', message: 'overlay encryption is off (swarm.encryptOverlay: false)'}
  }
  return support.works
    ? {id: 'swarm.overlay', status: 'pass', message: `encrypted overlay: ${support.why}`}
    : {
        id: 'swarm.overlay',
        status: 'fail',
        message: `swarm.encryptOverlay is on, but ${support.why}`,
        hint: 'Set swarm.encryptOverlay: false in shing.yaml (traffic between boxes is then not encrypted), or use a kernel with ESP',
      }
}

/** Ports the stack itself publishes, by port: a port held by Shing is not a clash. */
export type OwnPorts = Map<string, string>

async function checkPorts(config: ShingConfig, own: OwnPorts): Promise<Check[]> {
  const tcp: Array<[string, number]> = [
    ['ports.http', config.ports.http],
    ['ports.https', config.ports.https],
    ['ports.rtmp', config.ports.rtmp],
    ...(config.ports.relayHttps === undefined ? [] : [['ports.relayHttps', config.ports.relayHttps] as [string, number]]),
    // TURN listens on TCP and UDP (the UDP side is checked with the WebRTC range).
    ...(config.ports.turn === undefined ? [] : [['ports.turn', config.ports.turn] as [string, number]]),
  ]
  const checks: Check[] = []
  for (const [key, port] of tcp) {
    const owner = own.get(`tcp/${port}`)
    if (owner !== undefined) {
      checks.push({id: `port.${key.split('.')[1]}`, status: 'pass', message: `TCP ${port} (${key}) is published by ${owner}`})
      continue
    }
    checks.push(
      (await tcpPortFree(port))
        ? {id: `port.${key.split('.')[1]}`, status: 'pass', message: `TCP ${port} (${key}) is free`}
        : {
            id: `port.${key.split('.')[1]}`,
            status: 'fail',
            message: `TCP ${port} (${key}) is already in use`,
            hint: `Stop what listens there (see: ss -ltnp 'sport = :${port}') or set ${key} to another port in shing.yaml`,
          },
    )
  }
  // The SFU's workers take UDP and TCP ports of the range, TURN relays from its other UDP ports.
  const {min, max} = config.ports.webrtc
  const busy: string[] = []
  for (let p = min; p <= max; p++) {
    if (!own.has(`udp/${p}`) && !(await udpPortFree(p))) busy.push(`${p}/udp`)
    if (!own.has(`tcp/${p}`) && !(await tcpPortFree(p))) busy.push(`${p}/tcp`)
  }
  const turn = config.ports.turn
  const turnBusy = turn !== undefined && !own.has(`udp/${turn}`) && !(await udpPortFree(turn))
  checks.push(
    busy.length === 0
      ? {id: 'port.webrtc', status: 'pass', message: `UDP and TCP ${min}-${max} (ports.webrtc) are free`}
      : {
          id: 'port.webrtc',
          status: 'fail',
          message: `ports in ports.webrtc are in use: ${busy.slice(0, 10).join(', ')}${busy.length > 10 ? '…' : ''}`,
          hint: `Stop what uses them (ss -lunp; ss -ltnp) or move ports.webrtc to a free range`,
        },
    ...(turn === undefined
      ? []
      : [
          turnBusy
            ? {id: 'port.turn-udp', status: 'fail' as const, message: `UDP ${turn} (ports.turn) is already in use`, hint: `Stop what uses it (ss -lunp 'sport = :${turn}'; a coturn of the system's own?) or set ports.turn to another port`}
            : {id: 'port.turn-udp', status: 'pass' as const, message: `UDP ${turn} (ports.turn) is free`},
        ]),
  )
  return checks
}

function checkResources(hw: HardwareReport, profile: HardwareProfile): Check[] {
  const {requires} = profile
  const memOk = hw.memory.totalBytes >= requires.minMemoryGiB * GiB
  const diskOk = hw.disk.freeBytes >= requires.minDiskGiB * GiB
  const cpuOk = hw.cpu.threads >= requires.minCores
  return [
    memOk
      ? {id: 'memory', status: 'pass', message: `${gib(hw.memory.totalBytes)} RAM (${profile.name} wants ${requires.minMemoryGiB} GiB)`}
      : {
          id: 'memory',
          status: 'fail',
          message: `${gib(hw.memory.totalBytes)} RAM; ${profile.name} wants ${requires.minMemoryGiB} GiB`,
          hint: 'Add memory, or choose a smaller profile: shing init --force --profile cpu-small',
        },
    diskOk
      ? {id: 'disk', status: 'pass', message: `${gib(hw.disk.freeBytes)} free at ${hw.disk.path}`}
      : {
          id: 'disk',
          status: 'fail',
          message: `${gib(hw.disk.freeBytes)} free at ${hw.disk.path}; ${profile.name} wants ${requires.minDiskGiB} GiB`,
          hint: 'Free space there, or move dataDir in shing.yaml to a bigger disk',
        },
    cpuOk
      ? {id: 'cpu', status: 'pass', message: `${hw.cpu.threads} cores (${profile.name} wants ${requires.minCores})`}
      : {
          id: 'cpu',
          status: 'warn',
          message: `${hw.cpu.threads} cores; ${profile.name} wants ${requires.minCores}: live transcodes may fall behind realtime`,
          hint: 'Choose the profile `shing hardware` suggests: shing init --force --profile <name>',
        },
  ]
}

function checkGpus(hw: HardwareReport, profile: HardwareProfile | undefined): Check[] {
  const checks: Check[] = []
  const nvidia = hw.gpus.filter((g) => g.vendor === 'nvidia')
  if (nvidia.length > 0 && hw.docker.reachable && !hw.docker.runtimes.includes('nvidia')) {
    const needed = profile?.encoder.kind === 'nvenc'
    checks.push({
      id: 'gpu.runtime',
      status: needed ? 'fail' : 'warn',
      message: `${nvidia[0]!.name} found, but the Docker engine has no nvidia runtime: containers cannot use the GPU`,
      hint: 'Install the NVIDIA Container Toolkit and run: nvidia-ctk runtime configure --runtime=docker && systemctl restart docker',
    })
  }
  for (const gpu of hw.gpus) {
    if (gpu.encoders.length === 0) {
      checks.push({
        id: 'gpu.encoder',
        status: 'warn',
        message: gpu.note ?? `${gpu.name} has no video encoder`,
        hint: 'Live transcoding runs on the CPU (x264); for GPU encoding use a card with NVENC, Quick Sync or VCN',
      })
    }
  }
  const needsGpu = profile === undefined ? undefined : unmet(profile, hw).find((why) => why.includes(' GPU; '))
  if (profile !== undefined && needsGpu !== undefined) {
    checks.push({
      id: 'gpu.profile',
      status: 'fail',
      message: `hardware.profile is ${profile.name}: ${needsGpu}`,
      hint: `Set hardware.profile to the one \`shing hardware\` chooses for this box (e.g. shing init --force --profile cpu-small)`,
    })
  }
  if (checks.length === 0) {
    const message = hw.gpus.length === 0 ? 'no GPU: video is encoded on the CPU' : hw.gpus.map((g) => `${g.name}: ${g.encoders.join(', ')}`).join('; ')
    checks.push({id: 'gpu', status: 'pass', message})
  }
  return checks
}

async function checkHostname(config: ShingConfig): Promise<Check> {
  const host = config.site.hostname
  if (isIP(host) !== 0) {
    return config.tls.mode === 'auto'
      ? {
          id: 'hostname',
          status: 'fail',
          message: `tls.mode is auto, but ${host} is an IP address: certificates are issued for DNS names`,
          hint: 'Set site.hostname to a DNS name that points here, or set tls.mode to none or files',
        }
      : {id: 'hostname', status: 'pass', message: `${host} is an IP address`}
  }
  const local = new Set(
    Object.values(os.networkInterfaces())
      .flat()
      .map((a) => a?.address),
  )
  let resolved: string[]
  try {
    resolved = (await lookup(host, {all: true})).map((r) => r.address)
  } catch (error) {
    return {
      id: 'hostname',
      status: config.tls.mode === 'auto' ? 'fail' : 'warn',
      message: `${host} does not resolve: ${errorMessage(error)}`,
      hint: `Create a DNS A/AAAA record for ${host} pointing at this box before asking for certificates`,
    }
  }
  if (resolved.some((a) => local.has(a))) {
    return {id: 'hostname', status: 'pass', message: `${host} resolves to this box (${resolved.join(', ')})`}
  }
  return {
    id: 'hostname',
    status: 'warn',
    message: `${host} resolves to ${resolved.join(', ')}, not to an address of this box`,
    hint: 'Fine behind NAT or a load balancer that forwards 80/443 here; otherwise fix the DNS record',
  }
}

async function ownPorts(engine: Engine, hw: HardwareReport): Promise<OwnPorts> {
  const own: OwnPorts = new Map()
  // Not a swarm manager (or no swarm yet): the stack publishes nothing here.
  if (!hw.docker.reachable || !hw.docker.swarm.isManager) return own
  for (const s of await engine.listServices({labels: stackLabels})) {
    for (const p of s.publishedPorts) own.set(`${p.protocol}/${p.port}`, s.name)
  }
  return own
}

/** More live ladders than the box transcodes in realtime makes every viewer's stream stall. */
function checkCapacity(config: ShingConfig, hw: HardwareReport, profile: HardwareProfile): Check {
  const configured = config.hardware.ingestMaxLadders ?? profile.ingest.maxLadders
  const fits = fit(profile, hw).profile.ingest.maxLadders
  if (configured <= fits) {
    return {id: 'capacity', status: 'pass', message: `${configured} live ladders per ingest (${profile.name} on this box fits ${fits})`}
  }
  const why = profile.encoder.kind === 'x264' ? `${hw.cpu.threads} cores transcode ${fits} ${profile.name} ladders in realtime` : `this box's encoder fits ${fits}`
  return {
    id: 'capacity',
    status: 'fail',
    message: `hardware.ingestMaxLadders is ${configured}, but ${why}: more would stall every live stream`,
    hint: `Set hardware.ingestMaxLadders to ${fits} or less in shing.yaml (or remove it to take the profile's fitted value)`,
  }
}

async function checkStackImages(engine: Engine, config: ShingConfig): Promise<Check[]> {
  const images = await checkImages(engine, stackImages(config, shingVersion()))
  return images.map((image): Check => {
    const id = `image.${image.key}`
    switch (image.state.status) {
      case 'present':
        return {id, status: 'pass', message: `${image.ref} is on this box`}
      case 'in-registry':
        return {id, status: 'pass', message: `${image.ref}: shing up pulls it`}
      case 'buildable':
        return {id, status: 'warn', message: `${image.ref} is not on this box: shing up builds it from this package`, hint: 'The first build takes several minutes and needs Debian\'s mirror and the npm registry'}
      case 'missing':
        return {
          id,
          status: 'fail',
          message: describeImage(image),
          hint: `Load it on this box (docker load -i <file>.tar), or set images.${image.key} in shing.yaml to an image it has or can pull`,
        }
    }
  })
}

/** The SMTP server answers with its 220 greeting (with TLS from the start, the TCP connect is what is checked). */
async function smtpGreeting(host: string, port: number, tls: boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host, port})
    const fail = (why: string): void => {
      socket.destroy()
      reject(new Error(why))
    }
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs / 1000} s`))
    socket.once('error', (error) => fail(errorMessage(error)))
    socket.once('connect', () => {
      if (!tls) return
      socket.destroy()
      resolve('connected')
    })
    socket.once('data', (data) => {
      const line = data.toString('utf8').split('\r\n')[0] ?? ''
      socket.end('QUIT\r\n')
      if (line.startsWith('220')) resolve(line)
      else fail(`it greeted with "${line.slice(0, 120)}", not 220`)
    })
  })
}

async function checkMail(config: ShingConfig): Promise<Check> {
  const mail = config.mail
  if (mail.mode === 'none') {
    return {
      id: 'mail',
      status: 'warn',
      message: 'this site sends no mail (mail.mode: none): accounts need no e-mail verification, and a forgotten password is reset by an admin (shing user reset-password)',
      hint: 'Set mail: in shing.yaml to an SMTP server (or `shing init --force --smtp host:port …`), then `shing up`',
    }
  }
  try {
    const greeting = await smtpGreeting(mail.host, mail.port, mail.security === 'tls')
    return {id: 'mail', status: 'pass', message: `SMTP ${mail.host}:${mail.port} answers (${greeting.slice(0, 80)}); account mail goes from ${mail.from}`}
  } catch (error) {
    return {
      id: 'mail',
      status: 'fail',
      message: `the SMTP server ${mail.host}:${mail.port} does not answer: ${errorMessage(error)}`,
      hint: 'Check mail.host and mail.port in shing.yaml, and that this box may reach it (firewall, provider blocking port 25)',
    }
  }
}

export interface DoctorOptions {
  dir: string
  engine: Engine
}

/** Preflight: every check runs (none stops the others); ok is false when any failed. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorResult> {
  const validation = await validateConfig(options.dir)
  const config = validation.valid ? validation.loaded.config : undefined
  const checks: Check[] = []
  checks.push(
    validation.valid
      ? {id: 'config', status: 'pass', message: `config in ${options.dir} is valid`}
      : {
          id: 'config',
          status: 'fail',
          message: validation.problems.map((p) => `${p.path || p.file}: ${p.message}`).join('; '),
          hint: 'Run `shing config validate` for the details, or `shing init` to create a config',
        },
  )
  const [hw, profiles] = await Promise.all([
    detectHardware({dataPath: config?.dataDir ?? options.dir, engine: options.engine}),
    loadProfiles(),
  ])
  checks.push(checkEngine(hw), checkSwarm(hw))
  const profile = config
    ? profiles.find((p) => p.name === config.hardware.profile)
    : chooseProfile(hw, profiles).profile
  if (config && profile === undefined) {
    checks.push({
      id: 'profile',
      status: 'fail',
      message: `hardware.profile "${config.hardware.profile}" does not exist`,
      hint: `Set hardware.profile to one of: ${profiles.map((p) => p.name).join(', ')}`,
    })
  }
  if (profile) checks.push(...checkResources(hw, profile))
  if (config && profile) checks.push(checkCapacity(config, hw, profile))
  checks.push(...checkGpus(hw, config ? profile : undefined))
  if (config) {
    const own = await ownPorts(options.engine, hw)
    checks.push(checkOverlay(config), ...(await checkPorts(config, own)), await checkHostname(config), await checkMail(config))
    if (hw.docker.reachable) checks.push(...(await checkStackImages(options.engine, config)))
  }

  const summary = {pass: 0, warn: 0, fail: 0}
  for (const c of checks) summary[c.status]++
  return {ok: summary.fail === 0, summary, checks}
}

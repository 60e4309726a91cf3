import {execa} from 'execa'
import {readdir, statfs} from 'node:fs/promises'
import si from 'systeminformation'

import type {Engine} from '../engine/engine.js'
import {reportEngine, type EngineReport} from '../engine/report.js'
import {errorMessage} from '../errors.js'
import {logger} from '../logger.js'
import {parseNvidiaSmi, parseVainfo, type Gpu} from './gpu.js'

const log = logger('hardware')

export interface ToolStatus {
  present: boolean
  /** Why the tool gave nothing usable, when it did not. */
  detail?: string
}

export interface HardwareReport {
  cpu: {model: string; vendor: string; cores: number; threads: number; flags: {avx2: boolean; avx512: boolean; sse42: boolean}}
  memory: {totalBytes: number; availableBytes: number}
  disk: {path: string; freeBytes: number; totalBytes: number}
  os: {platform: string; distro: string; release: string; kernel: string; arch: string; hostname: string}
  docker: EngineReport
  gpus: Gpu[]
  tools: {nvidiaSmi: ToolStatus; vainfo: ToolStatus}
}

export const NVIDIA_SMI_ARGS = [
  '--query-gpu=index,name,memory.total,driver_version,pci.bus_id',
  '--format=csv,noheader,nounits',
]

/** Runs a probe tool; a missing tool is "not present", a failing one says why — never a crash. */
async function probe(command: string, args: string[]): Promise<{status: ToolStatus; stdout: string}> {
  try {
    const result = await execa(command, args, {reject: false, timeout: 15_000, all: true})
    if (result.failed && (result as {code?: string}).code === 'ENOENT') {
      return {status: {present: false, detail: `${command} not installed`}, stdout: ''}
    }
    if (result.exitCode !== 0) {
      return {status: {present: true, detail: `${command} exited ${result.exitCode}: ${String(result.all).trim().split('\n').at(-1)}`}, stdout: String(result.stdout)}
    }
    return {status: {present: true}, stdout: String(result.stdout)}
  } catch (error) {
    return {status: {present: false, detail: errorMessage(error)}, stdout: ''}
  }
}

async function detectNvidia(): Promise<{status: ToolStatus; gpus: Gpu[]}> {
  const {status, stdout} = await probe('nvidia-smi', NVIDIA_SMI_ARGS)
  return {status, gpus: parseNvidiaSmi(stdout)}
}

/** Intel/AMD: every DRM render node, asked through vainfo which codecs it can encode. */
async function detectVaapi(): Promise<{status: ToolStatus; gpus: Gpu[]}> {
  let nodes: string[]
  try {
    nodes = (await readdir('/dev/dri')).filter((n) => n.startsWith('renderD')).map((n) => `/dev/dri/${n}`)
  } catch {
    return {status: {present: false, detail: 'no /dev/dri on this box'}, gpus: []}
  }
  if (nodes.length === 0) return {status: {present: false, detail: 'no /dev/dri/renderD* node'}, gpus: []}
  const gpus: Gpu[] = []
  let status: ToolStatus = {present: true}
  for (const node of nodes) {
    const result = await probe('vainfo', ['--display', 'drm', '--device', node])
    status = result.status
    if (!result.status.present) break
    const gpu = parseVainfo(result.stdout, node)
    // The NVIDIA proprietary driver exposes a render node too; nvidia-smi already reports it.
    if (gpu !== undefined && gpu.vendor !== 'other') gpus.push(gpu)
  }
  return {status, gpus}
}

export interface DetectOptions {
  /** Where Shing keeps its data: the disk checked for free space. */
  dataPath: string
  engine: Engine
}

export async function detectHardware(options: DetectOptions): Promise<HardwareReport> {
  log.debug({dataPath: options.dataPath}, 'detecting hardware')
  const [cpu, flags, mem, osInfo, disk, docker, nvidia, vaapi] = await Promise.all([
    si.cpu(),
    si.cpuFlags(),
    si.mem(),
    si.osInfo(),
    diskAt(options.dataPath),
    reportEngine(options.engine),
    detectNvidia(),
    detectVaapi(),
  ])
  const flagSet = new Set(flags.split(/\s+/))
  return {
    cpu: {
      model: `${cpu.manufacturer} ${cpu.brand}`.trim(),
      vendor: cpu.vendor,
      cores: cpu.physicalCores,
      threads: cpu.cores,
      flags: {avx2: flagSet.has('avx2'), avx512: flagSet.has('avx512f'), sse42: flagSet.has('sse4_2')},
    },
    memory: {totalBytes: mem.total, availableBytes: mem.available},
    disk,
    os: {
      platform: osInfo.platform,
      distro: osInfo.distro,
      release: osInfo.release,
      kernel: osInfo.kernel,
      arch: osInfo.arch,
      hostname: osInfo.fqdn || osInfo.hostname,
    },
    docker,
    gpus: [...nvidia.gpus, ...vaapi.gpus],
    tools: {nvidiaSmi: nvidia.status, vainfo: vaapi.status},
  }
}

/** Free space on the filesystem that holds `dir` (or its nearest existing parent). */
async function diskAt(dir: string): Promise<HardwareReport['disk']> {
  let probePath = dir
  for (;;) {
    try {
      const s = await statfs(probePath)
      return {path: dir, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize}
    } catch (error) {
      const parent = probePath.replace(/\/[^/]*\/?$/, '') || '/'
      if (parent === probePath) throw error
      probePath = parent
    }
  }
}

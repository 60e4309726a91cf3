/** What `shing hardware` reports of one GPU. */
export interface Gpu {
  vendor: 'nvidia' | 'intel' | 'amd' | 'other'
  name: string
  /** Video codecs the GPU can encode in hardware; empty when it has no encoder. */
  encoders: Array<'h264' | 'hevc' | 'av1' | 'vp9'>
  memoryBytes?: number
  driver?: string
  /** PCI bus id (NVIDIA) or DRM render node (VAAPI). */
  device: string
  /** NVIDIA only: concurrent NVENC sessions the driver allows; null = no cap. */
  encoderSessionLimit?: number | null
  /** Why encoders is empty, for the admin. */
  note?: string
}

// Datacenter compute parts without any NVENC engine (NVIDIA's Video Encode and Decode support
// matrix): A100, A30, A800, H100, H800, H200, B100, B200, GB200, GH200, B300.
const NO_NVENC = /\b(A100|A30|A800|H100|H800|H200|GH200|GB200|B100|B200|B300)\b/i
// Consumer cards: the driver caps concurrent NVENC sessions (8 since the 2024 drivers).
const CONSUMER = /\b(GeForce|TITAN)\b/i
// Ada and Blackwell encoders add AV1.
const AV1 = /\b(RTX 40\d\d|RTX 50\d\d|L4|L40S?|RTX \d+ Ada|RTX PRO \d+ Blackwell)\b/i

/** The session cap GeForce drivers enforce. */
export const GEFORCE_NVENC_SESSION_LIMIT = 8

/**
 * Parses `nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id
 * --format=csv,noheader,nounits`. Anything else (such as "No devices were found") is no GPU.
 */
export function parseNvidiaSmi(output: string): Gpu[] {
  const gpus: Gpu[] = []
  for (const line of output.split('\n')) {
    const fields = line.split(',').map((f) => f.trim())
    if (fields.length < 5 || !/^\d+$/.test(fields[0]!)) continue
    const [, name = '', memoryMiB, driver, bus = ''] = fields
    const hasNvenc = !NO_NVENC.test(name)
    const gpu: Gpu = {
      vendor: 'nvidia',
      name,
      encoders: hasNvenc ? (AV1.test(name) ? ['h264', 'hevc', 'av1'] : ['h264', 'hevc']) : [],
      device: bus,
    }
    const mib = Number(memoryMiB)
    if (Number.isFinite(mib)) gpu.memoryBytes = mib * 1024 * 1024
    if (driver) gpu.driver = driver
    if (hasNvenc) gpu.encoderSessionLimit = CONSUMER.test(name) ? GEFORCE_NVENC_SESSION_LIMIT : null
    else gpu.note = `${name} has no NVENC video encoder (a compute-only datacenter part)`
    gpus.push(gpu)
  }
  return gpus
}

const ENCODE_ENTRYPOINT = /^\s*VAProfile(\w+?)\s*:\s*VAEntrypointEnc(Slice|SliceLP)\b/

/** Parses `vainfo --display drm --device <node>`: the driver line and the encode entrypoints. */
export function parseVainfo(output: string, device: string): Gpu | undefined {
  const driver = /Driver version:\s*(.+)$/m.exec(output)?.[1]?.trim()
  if (driver === undefined) return undefined
  const encoders = new Set<Gpu['encoders'][number]>()
  for (const line of output.split('\n')) {
    const profile = ENCODE_ENTRYPOINT.exec(line)?.[1]
    if (profile === undefined) continue
    if (profile.startsWith('H264')) encoders.add('h264')
    else if (profile.startsWith('HEVC')) encoders.add('hevc')
    else if (profile.startsWith('AV1')) encoders.add('av1')
    else if (profile.startsWith('VP9')) encoders.add('vp9')
  }
  const vendor: Gpu['vendor'] = /Intel/i.test(driver) ? 'intel' : /\b(AMD|Radeon)\b/i.test(driver) ? 'amd' : 'other'
  // "Mesa Gallium driver 22.3.6 for AMD Radeon RX 6600 (navi23, …)" → "AMD Radeon RX 6600"
  const name = /\bfor (.+?)(?: \(|$)/.exec(driver)?.[1] ?? driver
  const gpu: Gpu = {vendor, name, encoders: [...encoders], driver, device}
  if (encoders.size === 0) gpu.note = `${name} has no VAAPI encode entrypoint (decode only)`
  return gpu
}

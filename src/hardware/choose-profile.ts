import type {Gpu} from './gpu.js'
import type {HardwareProfile} from '../../appliance/contract/hardware-profile.js'
import {x264LadderCapacity} from './transcode-capacity.js'

/** The parts of a hardware report the choice depends on. */
export interface HardwareFacts {
  cpu: {threads: number}
  memory: {totalBytes: number}
  gpus: Gpu[]
}

export interface ProfileChoice {
  /** The chosen profile, with ingest.maxLadders fitted to this box. */
  profile: HardwareProfile
  /** One sentence an admin can read: why this profile. */
  reason: string
  /** Changes made to the profile's numbers for this box, and why. */
  adjustments: string[]
  /** Requirements of the profile this box does not meet (only possible with an override). */
  warnings: string[]
}

const GiB = 1024 ** 3

function gpuClass(gpu: Gpu): HardwareProfile['requires']['gpu'] | undefined {
  if (!gpu.encoders.includes('h264')) return undefined
  if (gpu.vendor === 'nvidia') return 'nvidia-nvenc'
  if (gpu.vendor === 'intel') return 'intel-vaapi'
  if (gpu.vendor === 'amd') return 'amd-vaapi'
  return undefined
}

// NVENC first (fastest, frees the CPU), then Quick Sync, then AMD.
const GPU_PREFERENCE: Array<HardwareProfile['requires']['gpu']> = ['nvidia-nvenc', 'intel-vaapi', 'amd-vaapi']

/** Requirements of the profile this box does not meet, one sentence each. */
export function unmet(profile: HardwareProfile, facts: HardwareFacts): string[] {
  const out: string[] = []
  const {requires} = profile
  if (facts.cpu.threads < requires.minCores) {
    out.push(`${profile.name} wants ${requires.minCores} cores; this box has ${facts.cpu.threads}`)
  }
  const memGiB = facts.memory.totalBytes / GiB
  if (memGiB < requires.minMemoryGiB) {
    out.push(`${profile.name} wants ${requires.minMemoryGiB} GiB of RAM; this box has ${memGiB.toFixed(1)} GiB`)
  }
  if (requires.gpu !== 'none' && !facts.gpus.some((g) => gpuClass(g) === requires.gpu)) {
    const others = facts.gpus.map((g) => g.note ?? `${g.name} (${g.encoders.length > 0 ? `encodes ${g.encoders.join(', ')}` : 'no encoder'})`)
    out.push(`${profile.name} needs a ${requires.gpu} GPU; ${others.length === 0 ? 'this box has no GPU' : `this box has ${others.join('; ')}`}`)
  }
  return out
}

/** Fits the profile's numbers to this box: x264 capacity from the core count, NVENC session caps. */
export function fit(profile: HardwareProfile, facts: HardwareFacts): {profile: HardwareProfile; adjustments: string[]} {
  const adjustments: string[] = []
  let maxLadders = profile.ingest.maxLadders
  if (profile.encoder.kind === 'x264') {
    const capacity = Math.max(1, x264LadderCapacity(facts.cpu.threads, profile.ladder))
    if (capacity !== maxLadders) {
      adjustments.push(`ingest.maxLadders ${maxLadders} → ${capacity}: what ${facts.cpu.threads} cores transcode in realtime`)
      maxLadders = capacity
    }
  }
  if (profile.encoder.kind === 'nvenc') {
    const limits = facts.gpus
      .filter((g) => gpuClass(g) === 'nvidia-nvenc')
      .map((g) => g.encoderSessionLimit)
      .filter((l): l is number => typeof l === 'number')
    if (limits.length > 0) {
      const sessions = Math.min(...limits)
      const capacity = Math.max(1, Math.floor(sessions / profile.ladder.length))
      if (capacity < maxLadders) {
        adjustments.push(
          `ingest.maxLadders ${maxLadders} → ${capacity}: the driver allows ${sessions} NVENC sessions, a ladder uses ${profile.ladder.length}`,
        )
        maxLadders = capacity
      }
    }
  }
  return {profile: {...profile, ingest: {...profile.ingest, maxLadders}}, adjustments}
}

/**
 * Picks the best profile for the detected hardware, and says why. Pure: same facts, same answer.
 * `override` is the name the admin asked for; it wins, with warnings for unmet requirements.
 */
export function chooseProfile(facts: HardwareFacts, profiles: HardwareProfile[], override?: string): ProfileChoice {
  if (override !== undefined) {
    const profile = profiles.find((p) => p.name === override)
    if (profile === undefined) throw new Error(`unknown profile ${override}`)
    return {...fit(profile, facts), reason: `${override} was chosen by you`, warnings: unmet(profile, facts)}
  }

  for (const wanted of GPU_PREFERENCE) {
    const gpu = facts.gpus.find((g) => gpuClass(g) === wanted)
    const profile = profiles.find((p) => p.requires.gpu === wanted && unmet(p, facts).length === 0)
    if (gpu !== undefined && profile !== undefined) {
      const codec = gpu.vendor === 'nvidia' ? 'NVENC' : 'VAAPI'
      return {...fit(profile, facts), reason: `${gpu.name} encodes H.264 in hardware (${codec})`, warnings: []}
    }
  }

  const cpuProfiles = profiles
    .filter((p) => p.requires.gpu === 'none')
    .sort((a, b) => b.requires.minCores - a.requires.minCores)
  const profile = cpuProfiles.find((p) => unmet(p, facts).length === 0) ?? cpuProfiles.at(-1)
  if (profile === undefined) throw new Error('no CPU hardware profile is installed')
  const noEncoder = facts.gpus.filter((g) => gpuClass(g) === undefined).map((g) => g.note ?? `${g.name} has no H.264 encoder`)
  const why = facts.gpus.length === 0 ? 'no GPU found' : `no GPU video encoder found (${noEncoder.join('; ')})`
  const memGiB = Math.round(facts.memory.totalBytes / GiB)
  return {
    ...fit(profile, facts),
    reason: `${why}; ${facts.cpu.threads} cores and ${memGiB} GiB RAM fit ${profile.name} (x264 on the CPU)`,
    warnings: unmet(profile, facts),
  }
}

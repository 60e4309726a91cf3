import {readFileSync} from 'node:fs'
import path from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'

import {chooseProfile, type HardwareFacts} from '../../../src/hardware/choose-profile.js'
import {parseNvidiaSmi, parseVainfo} from '../../../src/hardware/gpu.js'
import type {HardwareProfile} from '../../../appliance/contract/hardware-profile.js'
import {loadProfiles} from '../../../src/hardware/profiles.js'
import {x264LadderCapacity} from '../../../src/hardware/transcode-capacity.js'

const fixture = (name: string): string => readFileSync(path.join(import.meta.dirname, '../../fixtures/hardware', name), 'utf8')
const GiB = 1024 ** 3
const box = (threads: number, memGiB: number, gpus: HardwareFacts['gpus'] = []): HardwareFacts => ({
  cpu: {threads},
  memory: {totalBytes: memGiB * GiB},
  gpus,
})

let profiles: HardwareProfile[]
beforeAll(async () => {
  profiles = await loadProfiles()
})

describe('chooseProfile on recorded tool outputs', () => {
  it('a GeForce box gets NVENC, with ladders capped by the driver session limit', () => {
    const choice = chooseProfile(box(8, 32, parseNvidiaSmi(fixture('nvidia-smi-geforce-rtx3060.csv'))), profiles)
    expect(choice.profile.name).toBe('nvidia-nvenc')
    expect(choice.reason).toContain('NVIDIA GeForce RTX 3060 encodes H.264 in hardware (NVENC)')
    // 8 sessions, 4 renditions per ladder
    expect(choice.profile.ingest.maxLadders).toBe(2)
    expect(choice.adjustments.join()).toMatch(/8 NVENC sessions/)
  })

  it('an H100 box falls back to the CPU and says the H100 has no NVENC', () => {
    const choice = chooseProfile(box(32, 256, parseNvidiaSmi(fixture('nvidia-smi-h100.csv'))), profiles)
    expect(choice.profile.encoder.kind).toBe('x264')
    expect(choice.profile.name).toBe('cpu-large')
    expect(choice.reason).toMatch(/NVIDIA H100 80GB HBM3 has no NVENC/)
  })

  it('an Intel iGPU box gets Quick Sync through VAAPI', () => {
    const gpu = parseVainfo(fixture('vainfo-intel-uhd770.txt'), '/dev/dri/renderD128')
    const choice = chooseProfile(box(4, 16, gpu ? [gpu] : []), profiles)
    expect(choice.profile.name).toBe('intel-vaapi')
    expect(choice.profile.encoder.kind).toBe('vaapi')
  })

  it('an AMD box gets VAAPI on the AMD profile', () => {
    const gpu = parseVainfo(fixture('vainfo-amd-rx6600.txt'), '/dev/dri/renderD128')
    expect(chooseProfile(box(6, 16, gpu ? [gpu] : []), profiles).profile.name).toBe('amd-vaapi')
  })

  it('a 2-core box with no GPU gets cpu-small with 2 ladders (5 realtime 720p30 encodes fit on 2 cores)', () => {
    const choice = chooseProfile(box(2, 4, parseNvidiaSmi(fixture('nvidia-smi-no-devices.txt'))), profiles)
    expect(choice.profile.name).toBe('cpu-small')
    expect(choice.profile.ingest.maxLadders).toBe(2)
    expect(choice.reason).toMatch(/^no GPU found/)
  })

  it('x264 ladders scale with the cores of the box', () => {
    const choice = chooseProfile(box(12, 32), profiles)
    expect(choice.profile.name).toBe('cpu-medium')
    expect(choice.profile.ingest.maxLadders).toBe(x264LadderCapacity(12, choice.profile.ladder))
    expect(choice.profile.ingest.maxLadders).toBeGreaterThan(2)
  })

  it('an override wins and lists what the box lacks', () => {
    const choice = chooseProfile(box(2, 4), profiles, 'nvidia-nvenc')
    expect(choice.profile.name).toBe('nvidia-nvenc')
    expect(choice.reason).toMatch(/chosen by you/)
    expect(choice.warnings.join('\n')).toMatch(/needs a nvidia-nvenc GPU/)
  })
})

describe('shipped hardware profiles', () => {
  it('cover CPU small/medium/large, NVENC, Intel and AMD', () => {
    expect(profiles.map((p) => p.name).sort()).toEqual(
      ['amd-vaapi', 'cpu-large', 'cpu-medium', 'cpu-small', 'intel-vaapi', 'nvidia-nvenc'],
    )
  })

  it('CPU profiles promise no more ladders than their smallest box transcodes in realtime', () => {
    for (const p of profiles.filter((q) => q.encoder.kind === 'x264')) {
      expect(p.ingest.maxLadders, p.name).toBeLessThanOrEqual(x264LadderCapacity(p.requires.minCores, p.ladder))
      expect(p.ingest.maxLadders, p.name).toBeGreaterThanOrEqual(1)
    }
  })

  it('a broken profile is rejected with its key path', async () => {
    const {hardwareProfileSchema} = await import('../../../appliance/contract/hardware-profile.js')
    const base = profiles.find((p) => p.name === 'cpu-small')!
    const bad = hardwareProfileSchema.safeParse({...base, ladder: [...base.ladder].reverse(), extra: 1})
    expect(bad.success).toBe(false)
    const paths = bad.error?.issues.map((i) => i.path.join('.'))
    expect(paths).toContain('')
  })
})

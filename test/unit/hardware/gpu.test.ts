import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {parseNvidiaSmi, parseVainfo} from '../../../src/hardware/gpu.js'

const fixture = (name: string): string => readFileSync(path.join(import.meta.dirname, '../../fixtures/hardware', name), 'utf8')

describe('nvidia-smi output', () => {
  it('a GeForce has NVENC with the consumer session cap', () => {
    const [gpu] = parseNvidiaSmi(fixture('nvidia-smi-geforce-rtx3060.csv'))
    expect(gpu).toMatchObject({vendor: 'nvidia', name: 'NVIDIA GeForce RTX 3060', encoders: ['h264', 'hevc'], encoderSessionLimit: 8})
    expect(gpu?.memoryBytes).toBe(12_288 * 1024 * 1024)
  })

  it('an H100 has no NVENC at all, and says so', () => {
    const [gpu] = parseNvidiaSmi(fixture('nvidia-smi-h100.csv'))
    expect(gpu?.name).toBe('NVIDIA H100 80GB HBM3')
    expect(gpu?.encoders).toEqual([])
    expect(gpu?.note).toMatch(/no NVENC/)
  })

  it('"No devices were found" is no GPU', () => {
    expect(parseNvidiaSmi(fixture('nvidia-smi-no-devices.txt'))).toEqual([])
  })
})

describe('vainfo output', () => {
  it('an Intel iGPU encodes H.264, HEVC and VP9 (low-power entrypoints)', () => {
    const gpu = parseVainfo(fixture('vainfo-intel-uhd770.txt'), '/dev/dri/renderD128')
    expect(gpu).toMatchObject({vendor: 'intel', device: '/dev/dri/renderD128'})
    expect(gpu?.encoders.sort()).toEqual(['h264', 'hevc', 'vp9'])
  })

  it('an AMD card encodes H.264 and HEVC; its name comes from the driver line', () => {
    const gpu = parseVainfo(fixture('vainfo-amd-rx6600.txt'), '/dev/dri/renderD128')
    expect(gpu).toMatchObject({vendor: 'amd', name: 'AMD Radeon RX 6600'})
    expect(gpu?.encoders.sort()).toEqual(['h264', 'hevc'])
  })

  it('a decode-only device has no encoders', () => {
    const gpu = parseVainfo(fixture('vainfo-no-encode.txt'), '/dev/dri/renderD128')
    expect(gpu?.encoders).toEqual([])
    expect(gpu?.note).toMatch(/no VAAPI encode/)
  })
})

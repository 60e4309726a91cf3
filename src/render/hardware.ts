import type {HardwareResult} from '../hardware/describe.js'

const GiB = 1024 ** 3
const gib = (b: number): string => `${(b / GiB).toFixed(1)} GiB`

export function renderHardware(h: HardwareResult): string {
  const flags = Object.entries(h.cpu.flags)
    .filter(([, on]) => on)
    .map(([f]) => f.toUpperCase())
  const docker = h.docker.reachable
    ? `${h.docker.version} (API ${h.docker.apiVersion}) at ${h.docker.address}, swarm ${h.docker.swarm.state}, runtimes: ${h.docker.runtimes.join(', ') || 'none'}`
    : `not reachable at ${h.docker.address} (${h.docker.error})`
  const lines = [
    `CPU      ${h.cpu.model}: ${h.cpu.cores} cores, ${h.cpu.threads} threads${flags.length ? ` (${flags.join(', ')})` : ''}`,
    `Memory   ${gib(h.memory.totalBytes)} (${gib(h.memory.availableBytes)} available)`,
    `Disk     ${gib(h.disk.freeBytes)} free of ${gib(h.disk.totalBytes)} at ${h.disk.path}`,
    `OS       ${h.os.distro} ${h.os.release}, kernel ${h.os.kernel} (${h.os.arch})`,
    `Docker   ${docker}`,
  ]
  if (h.gpus.length === 0) {
    const why = [h.tools.nvidiaSmi.detail, h.tools.vainfo.detail].filter(Boolean).join('; ')
    lines.push(`GPUs     none${why ? ` (${why})` : ''}`)
  }
  for (const g of h.gpus) {
    const enc = g.encoders.length > 0 ? `encodes ${g.encoders.join(', ')}` : 'no video encoder'
    const cap = typeof g.encoderSessionLimit === 'number' ? `, ${g.encoderSessionLimit} NVENC sessions` : ''
    lines.push(`GPU      ${g.name} [${g.vendor}, ${g.device}]: ${enc}${cap}`)
  }
  lines.push('', `Profile  ${h.profile.name}: ${h.profile.reason}`)
  lines.push(`         encoder ${h.profile.encoder}, up to ${h.profile.maxLadders} live ladders per ingest`)
  for (const a of h.profile.adjustments) lines.push(`         ${a}`)
  for (const w of h.profile.warnings) lines.push(`  warn   ${w}`)
  return lines.join('\n')
}

import type {DoctorResult} from '../doctor/doctor.js'

const mark = {pass: 'ok  ', warn: 'warn', fail: 'FAIL'} as const

export function renderDoctor(r: DoctorResult): string {
  const lines: string[] = []
  for (const c of r.checks) {
    lines.push(`${mark[c.status]}  ${c.id.padEnd(14)} ${c.message}`)
    if (c.hint && c.status !== 'pass') lines.push(`      ${''.padEnd(14)} → ${c.hint}`)
  }
  lines.push('', `checks: ${r.summary.pass} pass, ${r.summary.warn} warn, ${r.summary.fail} fail`)
  return lines.join('\n')
}

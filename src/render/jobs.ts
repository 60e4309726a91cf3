import {jobStates, type HousekeepingReport, type JobsRemoveResult, type JobsRetryResult, type JobsSummary} from '../../appliance/contract/index.js'

/** The queues with anything in them, the workers, and the failed jobs with their errors and what to do. */
export function renderJobsSummary(s: JobsSummary): string {
  const lines: string[] = []
  const busy = s.queues.filter((q) => Object.values(q.counts).some((n) => n > 0))
  const shown = jobStates.filter((state) => busy.some((q) => (q.counts[state] ?? 0) > 0))
  if (busy.length === 0) {
    lines.push('No jobs in any queue.')
  } else {
    const width = Math.max(5, ...busy.map((q) => q.queue.length))
    lines.push(['QUEUE'.padEnd(width), ...shown.map((state) => state.toUpperCase().padStart(Math.max(8, state.length)))].join('  '))
    for (const q of busy) lines.push([q.queue.padEnd(width), ...shown.map((state) => String(q.counts[state] ?? 0).padStart(Math.max(8, state.length)))].join('  '))
  }
  lines.push('')
  if (s.workers.length === 0) {
    lines.push('No worker is up: jobs wait until one starts (shing status shows the worker service).')
  } else {
    lines.push(`Workers (${s.workers.length}):`)
    for (const w of s.workers) lines.push(`  ${w.id}  ${w.active} running  ${w.capabilities.join(', ')}  (at once: ${w.concurrency.general} general, ${w.concurrency.video} video)`)
  }
  if (s.failed.length > 0) {
    lines.push('', `Failed for good (${s.failed.length} newest):`)
    for (const f of s.failed) {
      lines.push(`  ${f.queue} ${f.id}  ${f.failedAt ?? ''}  after ${f.attemptsMade} attempt(s)`, `    error: ${f.failedReason}`)
      if (f.about !== '') lines.push(`    job:   ${f.about}`)
    }
    lines.push('', 'Run one again: shing jobs retry <queue> <id>   all of them: shing jobs retry --all   drop one: shing jobs remove <queue> <id>')
  }
  return lines.join('\n')
}

export function renderRetried(r: JobsRetryResult): string {
  return r.retried.length === 0 ? 'No failed job to retry.' : `Retrying ${r.retried.length} job(s): ${r.retried.map((j) => `${j.queue} ${j.id}`).join(', ')}`
}

export function renderRemoved(r: JobsRemoveResult): string {
  return `Removed ${r.queue} ${r.id} (it was ${r.state}).`
}

/** Housekeeping's report, whatever its kinds: each count, and the examples it gives. */
export function renderHousekeeping(r: HousekeepingReport): string {
  const lines = [r.dryRun === true ? 'Housekeeping, dry run: nothing was removed. It would remove:' : 'Housekeeping done. Removed:']
  const walk = (value: unknown, label: string, depth: number): void => {
    const pad = '  '.repeat(depth)
    if (typeof value === 'number') lines.push(`${pad}${label}: ${value}`)
    else if (typeof value === 'string' && label !== 'status') lines.push(`${pad}${label}: ${value}`)
    else if (Array.isArray(value)) {
      if (value.length > 0) lines.push(`${pad}${label}: ${value.map(String).join(', ')}`)
    } else if (value !== null && typeof value === 'object') {
      lines.push(`${pad}${label}:`)
      for (const [k, v] of Object.entries(value)) walk(v, k, depth + 1)
    }
  }
  for (const [k, v] of Object.entries(r)) if (k !== 'dryRun' && k !== 'status') walk(v, k, 1)
  return lines.join('\n')
}

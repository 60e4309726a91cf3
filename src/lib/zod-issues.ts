import type {z} from 'zod'

export interface Problem {
  /** Dotted key path, e.g. `ports.http`; empty for the document itself. */
  path: string
  message: string
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.message.includes('received undefined')
        ? `missing: add this key (a ${issue.expected})`
        : `wrong type: ${issue.message.replace(/^Invalid input: /, '')}; set it to a ${issue.expected}`
    case 'invalid_union':
      // A discriminated union whose tag is unknown: say which tags exist.
      if ('note' in issue && issue.note === 'No matching discriminator') {
        const options = issue.message.match(/'[^']+'/g)?.join(', ')
        return options ? `must be one of ${options}` : issue.message
      }
      return issue.message
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`
    case 'too_small':
    case 'too_big':
      return `out of range: ${issue.message.replace(/^Too (small|big): /, '')}`
    default:
      return issue.message
  }
}

/** Turns zod issues into one problem per key path, with a message that names the fix. */
export function toProblems(issues: readonly z.core.$ZodIssue[], prefix = ''): Problem[] {
  const problems: Problem[] = []
  for (const issue of issues) {
    const base = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.')
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const where = base === '' ? key : `${base}.${key}`
        problems.push({path: where, message: `unknown key "${key}": remove it or check its spelling`})
      }
      continue
    }
    problems.push({path: base, message: describe(issue)})
  }
  return problems
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  return toProblems(issues, prefix).map((p) => `${p.path || '(file)'}: ${p.message}`)
}

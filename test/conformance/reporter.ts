import type {Reporter, TestModule} from 'vitest/node'

import {realParts, type RealPart} from '../harness/real-part.js'

/**
 * Ends a run that included conformance tests with one line per real part and a summary:
 * `real: docker ok 20.10.24` … `conformance: 8/8 real parts ok`.
 */
export default class RealPartsReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const seen = new Map<RealPart, {ok: boolean; version: string; error?: string}>()
    let ranConformance = false
    for (const mod of testModules) {
      if (mod.project.name !== 'conformance') continue
      ranConformance = true
      for (const test of mod.children.allTests()) {
        const part = test.meta().realPart?.part ?? realParts.find((p) => test.name === p)
        if (part === undefined) continue
        const result = test.result()
        const ok = result.state === 'passed' && test.meta().realPart !== undefined
        const previous = seen.get(part)
        const error = result.state === 'failed' ? result.errors?.[0]?.message?.split('\n')[0] : result.state
        if (previous === undefined || previous.ok) {
          seen.set(part, {ok: ok && (previous?.ok ?? true), version: test.meta().realPart?.version ?? '', error})
        }
      }
    }
    if (!ranConformance) return
    const lines: string[] = []
    let okCount = 0
    for (const part of realParts) {
      const r = seen.get(part)
      if (r === undefined) lines.push(`real: ${part} MISSING (no conformance test ran for it)`)
      else if (r.ok) {
        okCount++
        lines.push(`real: ${part} ok ${r.version}`)
      } else lines.push(`real: ${part} FAILED ${r.error ?? ''}`.trimEnd())
    }
    lines.push(`conformance: ${okCount}/${realParts.length} real parts ok`)
    process.stdout.write(`\n${lines.join('\n')}\n`)
  }
}

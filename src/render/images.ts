import type {ImageProgress} from '../engine/engine.js'

/** A build's own output, line by line; byte counters are left out (they would flood a log). */
export function renderImageProgress(p: ImageProgress): string | undefined {
  return p.kind === 'status' ? p.text : undefined
}

import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import {expect, it} from 'vitest'

import {repoRoot} from '../harness/cli.js'
import {markReal} from '../harness/real-part.js'

/** The tests, the CLI they start and the components they run are on Node 24 LTS (Node 20 is end-of-life). */
it('node', async (ctx) => {
  const major = Number(process.versions.node.split('.')[0])
  expect(major, `the suite runs on ${process.version}: run it through npm test (scripts/with-node24)`).toBeGreaterThanOrEqual(24)
  // What the harness spawns (bin/run.js, the appliance) is this same binary; and `node` on the
  // PATH of npm scripts is too, so nothing falls back to the system's Node 20.
  const {stdout} = await promisify(execFile)('node', ['-p', 'process.version'], {cwd: repoRoot})
  expect(stdout.trim()).toBe(process.version)
  markReal(ctx, 'node', process.version)
})

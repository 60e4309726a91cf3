import {execa} from 'execa'

import {repoRoot} from './harness/cli.js'

/** Tests run the real bin/run.js, which runs dist/: build it once per run so it matches src/. */
export default async function setup(): Promise<void> {
  await execa('npx', ['tsc', '-p', 'tsconfig.json'], {cwd: repoRoot, stdio: 'inherit'})
}

import {execa} from 'execa'

import {repoRoot} from './harness/cli.js'

/** Tests run the real bin/run.js and appliance/dist: build both once per run so they match the sources. */
export default async function setup(): Promise<void> {
  await execa('npx', ['tsc', '-p', 'tsconfig.json'], {cwd: repoRoot, stdio: 'inherit'})
  await execa('npx', ['tsc', '-p', 'appliance/tsconfig.json'], {cwd: repoRoot, stdio: 'inherit'})
}

import {readFileSync} from 'node:fs'
import path from 'node:path'

import {packageRoot} from './package-root.js'

let cached: string | undefined

/** This release's version (package.json): the appliance image tag. */
export function shingVersion(): string {
  cached ??= (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {version: string}).version
  return cached
}

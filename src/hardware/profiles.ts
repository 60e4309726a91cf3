import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import YAML from 'yaml'

import {AbortError, BugError} from '../errors.js'
import {packageRoot} from '../lib/package-root.js'
import {formatIssues} from '../lib/zod-issues.js'
import {hardwareProfileSchema, type HardwareProfile} from '../../appliance/contract/hardware-profile.js'

export function profilesDir(): string {
  return path.join(packageRoot(), 'hardware-profiles')
}

/** Every profile shipped in hardware-profiles/, validated; a bad one is our bug. */
export async function loadProfiles(dir = profilesDir()): Promise<HardwareProfile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()
  const profiles: HardwareProfile[] = []
  for (const file of files) {
    const raw: unknown = YAML.parse(await readFile(path.join(dir, file), 'utf8'))
    const parsed = hardwareProfileSchema.safeParse(raw)
    if (!parsed.success) {
      throw new BugError(`hardware profile ${file} is invalid:\n${formatIssues(parsed.error.issues).join('\n')}`)
    }
    if (`${parsed.data.name}.yaml` !== file) throw new BugError(`hardware profile ${file} is named ${parsed.data.name}`)
    profiles.push(parsed.data)
  }
  return profiles
}

export function findProfile(profiles: HardwareProfile[], name: string): HardwareProfile {
  const profile = profiles.find((p) => p.name === name)
  if (profile === undefined) {
    throw new AbortError(`There is no hardware profile named "${name}".`, [
      `Pick one of: ${profiles.map((p) => p.name).join(', ')}`,
    ])
  }
  return profile
}

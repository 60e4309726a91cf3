/**
 * The two packages and their one contract: the CLI package carries none of the appliance's
 * dependencies, and the lint rule (eslint.config.js) fails an import across the boundary.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {ESLint} from 'eslint'
import {describe, expect, it} from 'vitest'

import {repoRoot} from '../../harness/cli.js'

const applianceOnly = ['mediasoup', 'node-media-server', 'fastify', 'mongodb', 'bullmq', 'hls.js', 'ioredis', 'minio', 'prom-client']
const readJson = (file: string): {dependencies: Record<string, string>} => JSON.parse(readFileSync(path.join(repoRoot, file), 'utf8')) as {dependencies: Record<string, string>}

describe('the CLI package', () => {
  it('depends on none of the appliance\'s server packages; the appliance package has them', () => {
    const cli = Object.keys(readJson('package.json').dependencies)
    for (const name of applianceOnly) expect(cli, name).not.toContain(name)
    const appliance = Object.keys(readJson('appliance/package.json').dependencies)
    for (const name of ['mediasoup', 'node-media-server', 'fastify', 'mongodb', 'bullmq']) expect(appliance).toContain(name)
  })
})

describe('the import boundaries (npm run lint)', () => {
  const eslint = new ESLint({cwd: repoRoot})
  const lint = async (file: string, code: string): Promise<string[]> => {
    const [result] = await eslint.lintText(code, {filePath: path.join(repoRoot, file)})
    return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
  }

  it('an appliance file that imports from src/ fails', async () => {
    expect(await lint('appliance/relay/new-thing.ts', "import {loadConfig} from '../../src/config/load.js'\nvoid loadConfig\n")).toEqual([
      expect.stringContaining('The appliance never imports the CLI (src/)'),
    ])
    expect(await lint('appliance/main.ts', "import {x} from '../src/x.js'\nvoid x\n")).toHaveLength(1)
  })

  it('src/ may import the contract only, and none of the appliance\'s packages', async () => {
    expect(await lint('src/up/new-thing.ts', "import {componentNames} from '../../appliance/contract/index.js'\nvoid componentNames\n")).toEqual([])
    expect(await lint('src/up/new-thing.ts', "import {parseEnv} from '../../appliance/platform/env.js'\nvoid parseEnv\n")).toEqual([
      expect.stringContaining('src/ may import only appliance/contract/'),
    ])
    expect(await lint('src/up/new-thing.ts', "import Fastify from 'fastify'\nvoid Fastify\n")).toEqual([expect.stringContaining("does not carry the appliance's dependencies")])
  })

  it('a domain never imports a component entry or main; the contract imports only itself', async () => {
    expect(await lint('appliance/vods/new-thing.ts', "import {web} from '../components/web.js'\nvoid web\n")).toEqual([expect.stringContaining("component's entry")])
    expect(await lint('appliance/vods/new-thing.ts', "import '../main.js'\n")).toEqual([expect.stringContaining('entry point')])
    expect(await lint('appliance/contract/new-thing.ts', "import {safeJson} from '../platform/json.js'\nvoid safeJson\n")).toEqual([
      expect.stringContaining('The contract imports only zod and itself'),
    ])
    expect(await lint('appliance/components/web.ts', "import {channelRoutes} from '../channels/routes.js'\nvoid channelRoutes\n")).toEqual([])
  })
})

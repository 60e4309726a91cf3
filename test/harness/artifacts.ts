/** Where tests leave what a person looks at afterwards (screenshots): test-artifacts/ (git ignores it). */
import {mkdir} from 'node:fs/promises'
import path from 'node:path'

import type {Page} from 'playwright-core'

import {repoRoot} from './cli.js'

export const artifactsDir = process.env.SHING_TEST_ARTIFACTS ?? path.join(repoRoot, 'test-artifacts')

/** A full-page screenshot as test-artifacts/screenshots/<name>.png; its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = path.join(artifactsDir, 'screenshots')
  await mkdir(dir, {recursive: true})
  const file = path.join(dir, `${name}.png`)
  await page.screenshot({path: file, fullPage: true})
  return file
}

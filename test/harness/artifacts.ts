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

export const DESKTOP = {width: 1280, height: 800}
export const PHONE = {width: 390, height: 844}

/**
 * The page as it is, shot on a desktop (<name>.png) and on a phone (<name>-phone.png), then back
 * to the desktop; answers how wide the page was on the phone (nothing should be wider than it).
 */
export async function screenshotDesktopAndPhone(page: Page, name: string): Promise<number> {
  await page.setViewportSize(DESKTOP)
  await screenshot(page, name)
  await page.setViewportSize(PHONE)
  await screenshot(page, `${name}-phone`)
  const width = await page.evaluate(() => document.documentElement.scrollWidth)
  await page.setViewportSize(DESKTOP)
  return width
}

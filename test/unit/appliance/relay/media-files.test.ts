import {existsSync, readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import pino from 'pino'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {MediaFiles} from '../../../../appliance/relay/media-files.js'

let root: string
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'shing-media-files-'))
})
afterEach(async () => {
  await rm(root, {recursive: true, force: true})
})

/** What nginx finds at a URL path (its root is files/). */
const served = (files: MediaFiles, urlPath: string): string | undefined => {
  const file = path.join(files.servedRoot, urlPath)
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined
}

describe('MediaFiles', () => {
  it("serves the shown broadcast's files under /live/<channel>/, and only that broadcast's", async () => {
    const files = await MediaFiles.open(root, 1024 * 1024, pino({level: 'silent'}))
    await files.show('demo', 'stream-a')
    expect(await files.put('demo', 'stream-a', '720p/init.mp4', Buffer.from('init of a'))).toBe(true)
    expect(served(files, 'live/demo/720p/init.mp4')).toBe('init of a')
    expect(files.has('demo', 'stream-a', '720p/init.mp4')).toBe(true)
    // A new broadcast reuses the name: the link moves, the old files go.
    await files.show('demo', 'stream-b')
    expect(served(files, 'live/demo/720p/init.mp4')).toBeUndefined()
    expect(files.has('demo', 'stream-a', '720p/init.mp4')).toBe(false)
    // Late objects of the old broadcast are not stored.
    expect(await files.put('demo', 'stream-a', '720p/seg1.m4s', Buffer.from('late'))).toBe(false)
    await files.put('demo', 'stream-b', '720p/init.mp4', Buffer.from('init of b'))
    expect(served(files, 'live/demo/720p/init.mp4')).toBe('init of b')
    // Offline: nothing of the channel is served any more.
    await files.hide('demo')
    expect(served(files, 'live/demo/720p/init.mp4')).toBeUndefined()
    expect(files.stats().entries).toBe(0)
  })

  it('holds at most its bound, in whole pages, and removes evicted files', async () => {
    const files = await MediaFiles.open(root, 64 * 1024, pino({level: 'silent'}))
    await files.show('demo', 's')
    for (let n = 0; n < 10; n++) await files.put('demo', 's', `720p/seg${n}.m4s`, Buffer.alloc(10_000, n))
    // 10 KB takes 12 KiB (3 pages) + a page: 4 fit in 64 KiB.
    expect(files.stats().entries).toBe(4)
    expect(files.stats().bytes).toBeLessThanOrEqual(64 * 1024)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(served(files, 'live/demo/720p/seg0.m4s')).toBeUndefined()
    expect(served(files, 'live/demo/720p/seg9.m4s')).toHaveLength(10_000)
  })

  it('starts empty: files of an earlier run are not served', async () => {
    const first = await MediaFiles.open(root, 1024 * 1024, pino({level: 'silent'}))
    await first.show('demo', 's')
    await first.put('demo', 's', '720p/seg1.m4s', Buffer.from('old'))
    const second = await MediaFiles.open(root, 1024 * 1024, pino({level: 'silent'}))
    expect(served(second, 'live/demo/720p/seg1.m4s')).toBeUndefined()
  })
})

import {copyFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {build} from 'esbuild'

import {HarnessError, tempDir} from '../process.js'

/** The page sources; camera.html needs no build and can be served from here. */
export const webrtcPageSourceDir = path.dirname(fileURLToPath(import.meta.url))

export interface BuiltPage {
  /** Serve this directory: mediasoup.html, camera.html and mediasoup-client.bundle.js. */
  readonly dir: string
  remove(): Promise<void>
}

/** Bundles the mediasoup-client page into a temp dir (never into the repo). */
export async function buildWebrtcPage(): Promise<BuiltPage> {
  const out = await tempDir('webrtc-page')
  try {
    await build({
      entryPoints: [path.join(webrtcPageSourceDir, 'mediasoup-client-page.ts')],
      outfile: path.join(out.dir, 'mediasoup-client.bundle.js'),
      bundle: true,
      format: 'iife',
      target: 'chrome120',
      sourcemap: 'inline',
      logLevel: 'silent',
    })
    for (const file of ['camera.html', 'mediasoup.html']) {
      await copyFile(path.join(webrtcPageSourceDir, file), path.join(out.dir, file))
    }
  } catch (error) {
    await out.remove()
    throw new HarnessError(`bundling the mediasoup-client test page failed: ${(error as Error).message}`)
  }
  return out
}

// Bundles the pages' scripts that need npm packages (the calls page: mediasoup-client) into
// dist/browser/, where the web serves them from (calls/pages.ts). Run by `npm run build`.
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
await build({
  entryPoints: {calls: path.join(root, 'calls/browser/call-page.ts')},
  outdir: path.join(root, 'dist/browser'),
  bundle: true,
  minify: true,
  format: 'iife',
  // The browsers WebRTC calls are made from: current Chrome, Edge, Firefox and Safari.
  target: ['chrome111', 'firefox115', 'safari16.4'],
  legalComments: 'linked',
  logLevel: 'warning',
})

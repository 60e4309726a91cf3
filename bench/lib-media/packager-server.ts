/** The packager of one stream over HTTP on 127.0.0.1, with hls.js and a page beside it. */
import {once} from 'node:events'
import {readFileSync} from 'node:fs'
import {createServer} from 'node:http'
import {createRequire} from 'node:module'

import type {LlHlsPackager} from '../../appliance/hls/llhls.js'
import {freePort} from '../../test/harness/process.js'

export interface PackagerServer {
  /** http://127.0.0.1:<port> */
  readonly base: string
  /** Where the stream's master playlist is, relative to base. */
  readonly masterPath: string
  close(): Promise<void>
}

const hlsJs = readFileSync(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'))

export async function servePackager(packager: LlHlsPackager, pages: Record<string, string>): Promise<PackagerServer> {
  const prefix = '/live/bench/'
  const server = createServer((req, res) => {
    const {pathname, searchParams} = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (pathname === '/hls.min.js') {
      res.writeHead(200, {'content-type': 'text/javascript'}).end(hlsJs)
      return
    }
    const page = pages[pathname]
    if (page !== undefined) {
      res.writeHead(200, {'content-type': 'text/html; charset=utf-8'}).end(page)
      return
    }
    if (!pathname.startsWith(prefix)) {
      res.writeHead(404).end()
      return
    }
    packager.handle(pathname.slice(prefix.length), searchParams).then(
      (r) => res.writeHead(r.status, r.headers).end(r.body),
      (error: unknown) => res.writeHead(500).end(String(error)),
    )
  })
  const port = await freePort()
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return {
    base: `http://127.0.0.1:${port}`,
    masterPath: `${prefix}master.m3u8`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

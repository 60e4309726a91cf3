/**
 * The web's half of browser broadcasting: /ingest/ws/<ingestId>?ticket=… arrives at the site (the
 * edge sends everything but /live/* to the web), and the web forwards the socket, bytes as they
 * are, to that ingest's /ingest/ws. Only ingests in the registry are reached; the ticket in the
 * query is the ingest's to check.
 */
import type {IncomingMessage, Server} from 'node:http'
import net from 'node:net'
import type {Duplex} from 'node:stream'

import type {Redis} from 'ioredis'

import {BROWSER_INGEST_PATH, CHAT_SOCKET_PATH} from '../contract/index.js'
import type {Logger} from '../platform/logger.js'
import {listNodes} from '../registry/nodes.js'

const PREFIX = `${BROWSER_INGEST_PATH}/`
/** How long the ingest may take to accept the connection. */
const CONNECT_TIMEOUT_MS = 5000

const answer = (socket: Duplex, status: string): void => {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** Forwards browser-broadcast sockets on `server` to their ingest; returns what stops it. */
export function forwardBrowserIngest(options: {server: Server; redis: Redis; log: Logger}): () => void {
  const {log} = options
  const sockets = new Set<Duplex>()
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(request.url ?? '/', 'http://web')
    if (url.pathname.startsWith(`${CHAT_SOCKET_PATH}/`)) return // Socket.IO's
    socket.on('error', () => socket.destroy())
    // Socket.IO leaves other paths alone (destroyUpgrade: false): nobody else takes them.
    if (!url.pathname.startsWith(PREFIX)) return answer(socket, '404 Not Found')
    let ingestId: string
    try {
      ingestId = decodeURIComponent(url.pathname.slice(PREFIX.length))
    } catch {
      return answer(socket, '400 Bad Request')
    }
    void listNodes(options.redis, 'ingest').then(
      (ingests) => {
        const ingest = ingests.find((n) => n.id === ingestId)
        const port = ingest?.ports.http
        if (ingest === undefined || port === undefined) return answer(socket, '404 Not Found')
        const upstream = net.connect({host: ingest.host, port, timeout: CONNECT_TIMEOUT_MS})
        sockets.add(socket)
        upstream.once('connect', () => {
          upstream.setTimeout(0)
          // The request as it came, to the ingest's own path; the ticket travels in the query.
          const lines = [`GET ${BROWSER_INGEST_PATH}${url.search} HTTP/1.1`]
          for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`)
          upstream.write(`${lines.join('\r\n')}\r\n\r\n`)
          if (head.length > 0) upstream.write(head)
          socket.pipe(upstream).pipe(socket)
        })
        upstream.once('timeout', () => upstream.destroy(new Error('the ingest did not answer')))
        upstream.once('error', (error) => {
          log.warn({ingestId, err: error.message}, 'browser broadcast: cannot reach the ingest')
          if (upstream.bytesRead === 0 && socket.writable) answer(socket, '502 Bad Gateway')
          else socket.destroy()
        })
        upstream.once('close', () => socket.destroy())
        socket.once('close', () => {
          sockets.delete(socket)
          upstream.destroy()
        })
      },
      (error: unknown) => {
        log.warn({err: (error as Error).message}, 'browser broadcast: the registry does not answer')
        answer(socket, '503 Service Unavailable')
      },
    )
  }
  options.server.on('upgrade', onUpgrade)
  return () => {
    options.server.off('upgrade', onUpgrade)
    for (const socket of sockets) socket.destroy()
  }
}

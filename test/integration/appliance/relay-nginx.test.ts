/**
 * The relay's nginx as the relay runs it (appliance/relay/nginx.ts), with Debian's real nginx:
 * the configuration it writes passes `nginx -t`, files and the upstream are served as meant,
 * every request reaches the access log reader exactly once across log rotations, and nginx does
 * not outlive a relay killed with SIGKILL.
 */
import {execFile} from 'node:child_process'
import {once} from 'node:events'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import {promisify} from 'node:util'

import pino from 'pino'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AccessLogTail, type AccessEntry} from '../../../appliance/relay/access-log.js'
import {HeldReloads} from '../../../appliance/relay/held-reloads.js'
import {ACCESS_LOG, findNchan, findNginx, nginxConfig, startNginx, type NginxSettings, type RunningNginx} from '../../../appliance/relay/nginx.js'
import {freePort, startProcess, tempDir, waitFor} from '../../harness/process.js'
import {http2Get, selfSignedCertificate} from '../../harness/tls.js'

const execFileAsync = promisify(execFile)
const log = pino({level: 'silent'})

let dir: {dir: string; remove: () => Promise<void>}
let upstream: http.Server
let settings: NginxSettings
let nginx: RunningNginx

const url = (p: string): string => `http://127.0.0.1:${settings.port}${p}`

beforeAll(async () => {
  dir = await tempDir('relay-nginx')
  const filesRoot = path.join(dir.dir, 'files')
  await mkdir(path.join(filesRoot, 'live', 'demo', '720p'), {recursive: true})
  await writeFile(path.join(filesRoot, 'live', 'demo', '720p', 'seg7.m4s'), Buffer.alloc(100_000, 7))
  // Stands in for the relay process: answers what nginx does not have as files.
  upstream = http.createServer((request, response) => {
    response.writeHead(200, {'content-type': 'text/plain', 'x-cache': 'miss'}).end(`relay:${request.url}:${String(request.headers['x-forwarded-for'])}`)
  })
  const socket = path.join(dir.dir, 'relay.sock')
  upstream.listen(socket)
  await once(upstream, 'listening')
  const nchan = findNchan()
  if (nchan === undefined) throw new Error("nchan is not installed: scripts/install-test-deps.sh installs Debian's libnginx-mod-nchan")
  settings = {dir: dir.dir, filesRoot, upstreamSocket: socket, host: '127.0.0.1', port: await freePort(), upstreamTimeoutS: 5, sendTimeoutS: 5, nchan: {module: nchan, publisherSocket: path.join(dir.dir, 'publish.sock')}}
  nginx = await startNginx(findNginx(undefined), settings, log)
})

afterAll(async () => {
  await nginx?.stop(2000)
  upstream?.close()
  await dir?.remove()
})

describe("the relay's nginx", () => {
  it('writes a configuration nginx accepts', async () => {
    const file = path.join(dir.dir, 'checked.conf')
    await writeFile(file, nginxConfig(settings))
    const {stderr} = await execFileAsync(findNginx(undefined), ['-e', 'stderr', '-t', '-p', dir.dir, '-c', file])
    expect(stderr).toContain('test is successful')
  })

  it('sends stored media from files, passes the rest to the relay with the viewer address', async () => {
    const file = await fetch(url('/live/demo/720p/seg7.m4s'))
    expect(file.status).toBe(200)
    expect(file.headers.get('content-type')).toBe('video/mp4')
    expect(file.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(file.headers.get('x-cache')).toBe('hit')
    expect((await file.arrayBuffer()).byteLength).toBe(100_000)
    const missing = await fetch(url('/live/demo/720p/seg8.m4s'))
    expect(await missing.text()).toBe('relay:/live/demo/720p/seg8.m4s:127.0.0.1')
    const viaEdge = await fetch(url('/live/demo/720p/index.m3u8'), {headers: {'x-forwarded-for': '203.0.113.9, 10.0.0.5'}})
    expect(await viaEdge.text()).toBe('relay:/live/demo/720p/index.m3u8:10.0.0.5')
    // Not a media name: never looked up as a file, whatever is on disk.
    expect(await (await fetch(url('/live/demo/720p/../../../nginx.conf'))).text()).toMatch(/^relay:/)
  })

  it('holds a blocking reload the relay marked until the relay publishes its answer; others go to the relay', async () => {
    const held = path.join(settings.filesRoot, 'live', 'demo', '720p', '.held')
    await mkdir(held, {recursive: true})
    await writeFile(path.join(held, '40-2'), '')
    const publisher = new HeldReloads({publisherSocket: settings.nchan!.publisherSocket, servedRoot: settings.filesRoot, pull: () => Promise.reject(new Error('unused')), log})
    try {
      const waiting = fetch(url('/live/demo/720p/index.m3u8?_HLS_msn=40&_HLS_part=2')).then(async (r) => ({status: r.status, body: await r.text(), at: performance.now(), cacheControl: r.headers.get('cache-control'), type: r.headers.get('content-type')}))
      await new Promise((resolve) => setTimeout(resolve, 300))
      const publishedAt = performance.now()
      await publisher.send('POST', 'demo/720p/40-2', Buffer.from('#EXTM3U\n#EXT-X-PART:DURATION=0.5,URI="part40.2.m4s"\n'))
      const answer = await waiting
      expect(answer).toMatchObject({status: 200, cacheControl: 'no-store', type: 'application/vnd.apple.mpegurl'})
      expect(answer.body).toContain('part40.2.m4s')
      expect(answer.at - publishedAt).toBeLessThan(200)
      // Published before it was asked for: answered at once.
      expect(await (await fetch(url('/live/demo/720p/index.m3u8?_HLS_msn=40&_HLS_part=2'))).text()).toContain('part40.2.m4s')
      // No marker, another shape, or a marker of another rendition: the relay process answers.
      expect(await (await fetch(url('/live/demo/720p/index.m3u8?_HLS_msn=40&_HLS_part=3'))).text()).toMatch(/^relay:/)
      expect(await (await fetch(url('/live/demo/720p/index.m3u8?_HLS_msn=40&_HLS_part=2&_HLS_skip=YES'))).text()).toMatch(/^relay:/)
      expect(await (await fetch(url('/live/demo/360p/index.m3u8?_HLS_msn=40&_HLS_part=2'))).text()).toMatch(/^relay:/)
      // A request held for an answer the relay gave up on is released (410), not left hanging.
      await writeFile(path.join(held, '41-0'), '')
      const abandoned = fetch(url('/live/demo/720p/index.m3u8?_HLS_msn=41&_HLS_part=0'))
      await new Promise((resolve) => setTimeout(resolve, 300))
      await publisher.send('DELETE', 'demo/720p/41-0')
      expect((await abandoned).status).toBe(410)
    } finally {
      publisher.stop()
    }
  })

  it('a TLS port of its own, added while running: HTTP/2, the same answers, and the viewer is the peer (X-Forwarded-For not trusted there)', async () => {
    const certificate = await selfSignedCertificate(dir.dir, 'live.example.test')
    const tlsPort = await freePort()
    settings = {...settings, tls: {port: tlsPort, certFile: certificate.certFile, keyFile: certificate.keyFile}}
    await nginx.reconfigure(settings)
    const file = await waitFor('the TLS port open', () => http2Get(`https://127.0.0.1:${tlsPort}/live/demo/720p/seg7.m4s`, certificate.pem), {timeoutMs: 5000})
    expect(file).toMatchObject({status: 200, alpn: 'h2', fingerprint: certificate.fingerprint})
    expect(file.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(file.body.length).toBe(100_000)
    const spoofed = await http2Get(`https://127.0.0.1:${tlsPort}/live/demo/720p/index.m3u8`, certificate.pem, {'x-forwarded-for': '203.0.113.9'})
    expect(spoofed.body.toString()).toBe('relay:/live/demo/720p/index.m3u8:127.0.0.1')
    // The plain port still trusts the edge's header.
    expect(await (await fetch(url('/live/demo/720p/index.m3u8'), {headers: {'x-forwarded-for': '203.0.113.9'}})).text()).toBe('relay:/live/demo/720p/index.m3u8:203.0.113.9')
  })

  it('every request reaches the log reader once, across rotations', async () => {
    const seen: AccessEntry[] = []
    const tail = new AccessLogTail({file: path.join(dir.dir, ACCESS_LOG), onEntries: (entries) => seen.push(...entries), reopen: () => nginx.reopenLogs(), intervalMs: 50, maxBytes: 8 * 1024})
    tail.start()
    try {
      const requests = 600
      for (let i = 0; i < requests; i++) {
        const response = await fetch(url(`/live/demo/720p/seg7.m4s?n=${i}`), {headers: {'user-agent': `rotation-${i}`}})
        await response.arrayBuffer()
        // Spread over a few seconds, so the log turns over many times meanwhile.
        if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const mine = await waitFor('every request read', async () => {
        const ours = seen.filter((e) => e.userAgent.startsWith('rotation-'))
        return ours.length >= requests ? ours : undefined
      }, {timeoutMs: 5000})
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(seen.filter((e) => e.userAgent.startsWith('rotation-'))).toHaveLength(requests)
      expect(new Set(mine.map((e) => e.userAgent)).size).toBe(requests)
      expect(mine.every((e) => e.status === 200 && e.bytes === 100_000 && e.source === 'file' && e.path === '/live/demo/720p/seg7.m4s')).toBe(true)
      // 600 lines of ~75 bytes (45 KB) through an 8 KiB limit: it turned over, and the file stays small.
      expect(readFileSync(path.join(dir.dir, ACCESS_LOG)).length).toBeLessThan(32 * 1024)
    } finally {
      await tail.stop()
    }
  })

  it('does not outlive a relay killed with SIGKILL', async () => {
    const own = await tempDir('relay-nginx-orphan')
    try {
      const port = await freePort()
      const script = `
        import {startNginx, findNginx} from ${JSON.stringify(path.resolve('appliance/dist/relay/nginx.js'))}
        import pino from 'pino'
        const n = await startNginx(findNginx(undefined), ${JSON.stringify({...settings, dir: own.dir, port, nchan: {...settings.nchan!, publisherSocket: path.join(own.dir, 'publish.sock')}, tls: undefined})}, pino({level: 'silent'}))
        console.log('nginx pid ' + n.pid)
        setInterval(() => {}, 1000)
      `
      const scriptFile = path.join(path.resolve('appliance'), `.orphan-check-${port}.mjs`)
      await writeFile(scriptFile, script)
      try {
        const parent = await startProcess({name: 'relay stand-in', command: process.execPath, args: [scriptFile], env: {PATH: process.env.PATH}, ready: {log: /nginx pid \d+/}, timeoutMs: 10_000})
        const master = Number(/nginx pid (\d+)/.exec(parent.output())?.[1])
        const workers = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
        expect(workers.length).toBe(1)
        expect((await fetch(`http://127.0.0.1:${port}/live/demo/720p/seg7.m4s`)).status).toBe(200)
        await parent.kill('SIGKILL')
        await waitFor('nginx gone with its relay', async () => [master, ...workers].every((pid) => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')), {timeoutMs: 5000})
        await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow()
      } finally {
        await (await import('node:fs/promises')).rm(scriptFile, {force: true})
      }
    } finally {
      await own.remove()
    }
  })
})

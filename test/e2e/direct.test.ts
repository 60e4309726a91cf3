/**
 * Viewers sent to the relays directly: a site made by `shing init --tls auto` on the box's
 * address (Caddy then issues the certificate from its own CA, offline) has ports.relayHttps by
 * default; `shing up` publishes it on the relay, the relay fetches the edge's certificate, the
 * playback API offers the direct URL, and Chromium plays the watch page with every live request
 * going to the relay's port rather than through the edge. When that port cannot be reached, the
 * player falls back to the edge by itself. Ends with `direct e2e: …`.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import YAML from 'yaml'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {INGEST_ASSIGN_PATH, type Playback} from '../../appliance/contract/index.js'
import {launchChromium, type RunningChromium} from '../harness/chromium.js'
import {waitFor, type ManagedProcess} from '../harness/process.js'
import {publishWhenThereIsRoom} from '../harness/rtmp.js'
import {explain, startSite, type Site} from './site.js'

const CHANNEL = 'direct'
const RELAY_PORT = 8443
let site: Site
let base: string
let publisher: ManagedProcess | undefined
let browser: RunningChromium | undefined
const figures = {certificateSeconds: 0, directRequests: 0, edgeLiveRequests: 0, played: 0}

/** Node inside the box, trusting any certificate (Caddy's own CA signed the site's). */
const inBoxNode = (script: string): Promise<{stdout: string; stderr: string; exitCode?: number}> =>
  site.inBox('env', ['NODE_TLS_REJECT_UNAUTHORIZED=0', process.execPath, '--no-warnings', '-e', script])

async function getJson<T>(url: string): Promise<T> {
  const r = await inBoxNode(`fetch(${JSON.stringify(url)}).then(r=>r.text()).then(t=>process.stdout.write(t))`)
  return JSON.parse(r.stdout) as T
}

/** The SHA-256 fingerprint of the certificate a TLS port of the box presents. */
async function servedCertificate(port: number): Promise<string> {
  const r = await inBoxNode(
    `const s=require('node:tls').connect({host:${JSON.stringify(site.box.address)},port:${port},rejectUnauthorized:false,ALPNProtocols:['http/1.1']},()=>{process.stdout.write(s.getPeerX509Certificate().fingerprint256);s.end()});s.on('error',e=>{console.error(e.message);process.exit(1)})`,
  )
  return r.stdout.trim()
}

beforeAll(async () => {
  site = await startSite([], {tls: 'auto'})
  base = `https://${site.box.address}`
  const config = YAML.parse(await readFile(path.join(site.dir, 'shing.yaml'), 'utf8')) as {ports: {relayHttps?: number}; tls: {mode: string}}
  expect(config.tls.mode).toBe('auto')
  expect(config.ports.relayHttps).toBe(RELAY_PORT)
  const up = await site.shing('up', '--json', '--timeout', '240')
  expect(up.exitCode, explain(up)).toBe(0)
  expect(up.json<{urls: {video?: string}}>().urls.video).toBe(`https://${site.box.address}:${RELAY_PORT}`)
})

afterAll(async () => {
  await browser?.close().catch(() => undefined)
  await publisher?.stop()
  await site?.stop()
})

describe('viewers reach the relays directly on their own TLS port', () => {
  it("the relay serves the edge's certificate on its port, and the playback API offers it", async () => {
    const since = performance.now()
    const edge = await waitFor('the edge to serve its certificate', async () => (await servedCertificate(443)) || undefined, {timeoutMs: 60_000, intervalMs: 1000})
    const relay = await waitFor("the relay's TLS port to serve", async () => (await servedCertificate(RELAY_PORT)) || undefined, {timeoutMs: 60_000, intervalMs: 1000})
    figures.certificateSeconds = (performance.now() - since) / 1000
    expect(relay).toBe(edge)

    const created = await site.shing('stream-key', 'create', CHANNEL, '--json')
    expect(created.exitCode, explain(created)).toBe(0)
    const key = created.json<{key: string}>().key
    publisher = await publishWhenThereIsRoom({
      url: `rtmp://${site.box.address}:1935/live/${key}`,
      netns: site.box.netns,
      hasRoom: async () => (await getJson<{rtmpUrl?: string}>(`${base}${INGEST_ASSIGN_PATH}`)).rtmpUrl !== undefined,
    })
    const playback = await waitFor('the channel live with a direct URL', async () => {
      const p = await getJson<Playback>(`${base}/api/streams/${CHANNEL}/playback`)
      return p.live && p.direct !== undefined ? p : undefined
    }, {timeoutMs: 60_000, intervalMs: 500})
    expect(playback.direct).toBe(`https://${site.box.address}:${RELAY_PORT}/live/${CHANNEL}/master.m3u8`)
    const master = await waitFor('the master playlist from the relay directly', async () => {
      const r = await inBoxNode(`fetch(${JSON.stringify(playback.direct)}).then(async r=>process.stdout.write(r.status+' '+r.headers.get('access-control-allow-origin')+'\\n'+await r.text()))`)
      return r.stdout.startsWith('200 ') ? r.stdout : undefined
    }, {timeoutMs: 30_000, intervalMs: 1000})
    // Players on the site's own origin fetch it cross-origin.
    expect(master.split('\n')[0]).toBe('200 *')
    expect(master).toContain('#EXT-X-STREAM-INF')
  })

  it('Chromium plays the watch page from the relay: no live request goes through the edge', async () => {
    browser = await launchChromium({netns: site.box.netns, ignoreHttpsErrors: true})
    const page = await browser.newPage()
    const live = {direct: 0, edge: 0}
    page.on('request', (request) => {
      const url = new URL(request.url())
      if (!url.pathname.startsWith('/live/')) return
      if (url.port === String(RELAY_PORT)) live.direct++
      else live.edge++
    })
    await page.goto(`${base}/c/${CHANNEL}`)
    await page.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) > 1, undefined, {timeout: 60_000})
    // Stalls and player errors, for the message when it does not keep playing.
    await page.evaluate(() => {
      const video = document.querySelector('video')!
      const stalls: number[] = ((window as unknown as {stalls: number[]}).stalls = [])
      video.addEventListener('waiting', () => stalls.push(Math.round(video.currentTime * 10) / 10))
    })
    const start = await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0)
    await page.waitForTimeout(10_000)
    const end = await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0)
    const why = await page.evaluate(() => JSON.stringify({stalls: (window as unknown as {stalls: number[]}).stalls, errors: (window as unknown as {shingPlayer: {errors: unknown[]}}).shingPlayer.errors}))
    process.stdout.write(`direct playback: ${(end - start).toFixed(1)} s in 10 s ${why}\n`)
    // One short stall on a busy 2-core box is tolerated; a player stuck on the direct source is not.
    expect(end - start, why).toBeGreaterThanOrEqual(8)
    // No request the browser refused or could not make (status 0: CORS, TLS, connection); the
    // blocking reloads held by the relay's nginx are answered across origins.
    const failed = await page.evaluate(() => (window as unknown as {shingPlayer: {errors: Array<{status?: number}>}}).shingPlayer.errors.filter((e) => e.status === 0).length)
    expect(failed, why).toBe(0)
    expect(await page.evaluate(() => (window as unknown as {shingPlayer: {source?: string}}).shingPlayer.source)).toBe('direct')
    expect(live.edge).toBe(0)
    expect(live.direct).toBeGreaterThan(10)
    figures.directRequests = live.direct
    figures.played = end
    await page.close()
  })

  it("a viewer who cannot reach the relay's port (a firewall) is played through the edge within seconds", async () => {
    const page = await browser!.newPage()
    const live = {direct: 0, edge: 0}
    await page.route(`https://${site.box.address}:${RELAY_PORT}/**`, (route) => route.abort('connectionrefused'))
    page.on('request', (request) => {
      const url = new URL(request.url())
      if (url.pathname.startsWith('/live/') && url.port !== String(RELAY_PORT)) live.edge++
    })
    const since = performance.now()
    await page.goto(`${base}/c/${CHANNEL}`)
    await page.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) > 1, undefined, {timeout: 60_000})
    const player = await page.evaluate(() => {
      const p = (window as unknown as {shingPlayer: {source?: string; directFailures?: number}}).shingPlayer
      return {source: p.source, directFailures: p.directFailures}
    })
    expect(player).toEqual({source: 'edge', directFailures: 1})
    expect(live.edge).toBeGreaterThan(0)
    figures.edgeLiveRequests = live.edge
    process.stdout.write(`timing: fallback to the edge and playing in ${Math.round(performance.now() - since)} ms\n`)
    await page.close()
    process.stdout.write(
      `direct e2e: certificate-at-relay=${figures.certificateSeconds.toFixed(1)}s direct-requests=${figures.directRequests} edge-requests-while-direct=0 played=${figures.played.toFixed(1)}s fallback-edge-requests=${figures.edgeLiveRequests}\n`,
    )
  })
})

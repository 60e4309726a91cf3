/**
 * Calls with the real web (two instances behind the front), two SFU processes with real mediasoup
 * workers, Redis and FerretDB, and Chromium with fake cameras and microphones: three people in a
 * room each receive the other two (decoded frames and audio energy, read in their pages), the third
 * on another worker of the SFU than the first two (the room outgrew its first worker); a second
 * room goes to the less loaded SFU; a fourth person, placed on the other SFU process because the
 * room's is full, and the three see and hear each other (the room spans processes); muting and
 * leaving reach the others; the SFU the room is on is killed and the three join again on the other
 * by themselves; hostile requests are refused. Co-streaming (a channel's studio) is costream.test.ts.
 */
import type {BrowserContext, Page} from 'playwright-core'
import {execa} from 'execa'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {io} from 'socket.io-client'

import {CALL_EVENTS_CHANNEL, callRoomKey, CALLS_NAMESPACE, registryRecordSchema, registryKey, SFU_RPC_PATH} from '../../../appliance/contract/index.js'
import {PHONE, screenshotDesktopAndPhone} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../../harness/chromium.js'
import {signUpThroughForm} from '../../harness/http-client.js'
import {webrtcRange} from '../../harness/appliance.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'
import {callState, seesAndHears} from '../../harness/call-page.js'
import {recordSummary} from '../../harness/summary.js'

let site: LiveSite
let chromium: RunningChromium
const PASSWORD = 'correct horse battery staple'
const NAMES = ['ann', 'bea', 'cal'] as const
const pages = new Map<string, Page>()
const contexts: BrowserContext[] = []
const dialogs: string[] = []
let room = ''
/** What the summary line says (npm run e2e:calls). */
let called = false
let spanned = false
let failover: number | undefined

async function openAs(name: string): Promise<Page> {
  const user = await signUpThroughForm(`http://127.0.0.1:${site.get('web').httpPort}`, name, {password: PASSWORD, address: `198.51.100.${160 + contexts.length}`})
  const context = await chromium.browser.newContext({viewport: {width: 1280, height: 800}})
  contexts.push(context)
  // Cookies are per host, not per port: the session holds on the front too.
  await context.addCookies([{name: 'shing_session', value: user.cookie('shing_session')!, url: site.frontUrl()}])
  const page = recordDialogs(await context.newPage(), dialogs)
  page.on('pageerror', (e) => console.log(`${name} page error: ${e.message}`))
  pages.set(name, page)
  return page
}

/** From the lobby (the page is on a room's address): Join, and wait until in the call. */
async function joinFromLobby(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'lobby', undefined, {timeout: 20_000})
  await page.click('#join')
  await page.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'in-call', undefined, {timeout: 30_000})
}

async function joinRoom(page: Page, roomId: string): Promise<void> {
  await page.goto(`${site.frontUrl()}/calls/${roomId}`)
  await joinFromLobby(page)
}

/** Open a room from /calls and join it; its id. */
async function openRoomAndJoin(page: Page): Promise<string> {
  await page.goto(`${site.frontUrl()}/calls`)
  await page.click('button:has-text("Open a room")')
  await page.waitForURL(/\/calls\/[A-Za-z0-9_-]{22}$/)
  await joinFromLobby(page)
  return new URL(page.url()).pathname.split('/').pop()!
}

const placedOn = async (roomId: string): Promise<string | null> => site.client.get(callRoomKey(roomId))
const sfuLoad = async (id: string): Promise<{streams: number; viewers: number; rooms?: number; participants?: number; slotsFree?: number}> => {
  const raw = await site.client.get(registryKey('sfu', id))
  return raw === null ? {streams: 0, viewers: 0} : registryRecordSchema.parse(JSON.parse(raw)).load
}

// Each SFU: its WebRTC range (its two workers take the first two ports, its TURN server relays from the rest) and its TURN port.
const sfuEnv: Record<string, NodeJS.ProcessEnv> = {}

beforeAll(async () => {
  // Two workers per SFU, each counted full at 4 consumers: the third person of a room goes to the
  // room's part on the other worker; with three (12 consumers) the SFU is full, and a fourth goes to the other SFU.
  site = await startLiveSite({adjustProfile: (profile) => ({...profile, sfu: {workers: 2, consumersPerWorker: 4}})})
  for (const id of ['sfu-a', 'sfu-b']) sfuEnv[id] = await webrtcRange(100, {turn: true})
  await Promise.all([
    site.start('web'),
    site.start('web-2'),
    site.start('sfu-a', sfuEnv['sfu-a']),
    site.start('sfu-b', sfuEnv['sfu-b']),
  ])
  chromium = await launchChromium({fakeMedia: true})
  for (const name of NAMES) await openAs(name)
}, 180_000)

// A failure shows what the webs and SFUs said about calls.
afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return
  for (const id of ['web', 'web-2', 'sfu-a', 'sfu-b']) {
    const lines = site.get(id).process.output().split('\n').filter((line) => /call|sfu|mediasoup/i.test(line))
    console.log(`--- ${id}\n${lines.slice(-40).join('\n')}`)
  }
})

afterAll(async () => {
  // npm run e2e:calls prints these with the co-stream's (costream.test.ts) as its last line.
  const summary = {call: called ? 'ok' : 'failed', span: spanned ? 'ok' : 'failed', failover: failover === undefined ? 'failed' : `${failover.toFixed(1)}s`}
  console.log(`calls: ${Object.entries(summary).map(([key, value]) => `${key}=${value}`).join(' ')}`)
  await recordSummary(summary)
  for (const context of contexts) await context.close().catch(() => undefined)
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

describe('calls', () => {
  it('Calls in the header opens a room; its page previews the camera and offers the link', async () => {
    const ann = pages.get('ann')!
    await ann.goto(`${site.frontUrl()}/`)
    await ann.click('header a[href="/calls"]')
    await ann.waitForURL('**/calls')
    await ann.click('button:has-text("Open a room")')
    await ann.waitForURL(/\/calls\/[A-Za-z0-9_-]{22}$/)
    room = new URL(ann.url()).pathname.split('/').pop()!
    await ann.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'lobby', undefined, {timeout: 20_000})
    await ann.waitForFunction(() => (document.getElementById('preview') as HTMLVideoElement).videoWidth > 0, undefined, {timeout: 10_000})
    expect(await ann.inputValue('#room-link')).toBe(`https://live.example.test/calls/${room}`)
    expect(await screenshotDesktopAndPhone(ann, 'call-lobby')).toBeLessThanOrEqual(PHONE.width)
  })

  it('three people join through both web instances: each sees and hears the other two', async () => {
    const started = performance.now()
    for (const name of NAMES) await joinRoom(pages.get(name)!, room)
    for (const name of NAMES) {
      const seen = await seesAndHears(pages.get(name)!, NAMES.filter((other) => other !== name))
      console.log(`calls: ${name} receives ${seen.map((r) => `${r.name} ${r.width}px ${r.frames} frames rms=${r.audioRms.toFixed(3)}`).join(', ')}`)
    }
    console.log(`calls: 3 participants connected in ${Math.round(performance.now() - started)} ms`)
    const states = await Promise.all(NAMES.map((name) => callState(pages.get(name)!)))
    // One room, one SFU, wherever each person's web instance is.
    expect(new Set(states.map((s) => s.sfu)).size).toBe(1)
    expect(states[0]!.sfu).toBe(await placedOn(room))
    // On two of its workers: the first two filled the first worker's budget, the third went to the other.
    expect(await site.metric(states[0]!.sfu!, 'shing_sfu_routers')).toBe(2)
    expect(site.get(states[0]!.sfu!).process.output()).toContain('call: room continues on another worker')
    expect(await screenshotDesktopAndPhone(pages.get('ann')!, 'call-three')).toBeLessThanOrEqual(PHONE.width)
    called = true
  }, 180_000)

  it('the SFU reports its producers and consumers, and the next room goes to the less loaded SFU', async () => {
    const busy = (await placedOn(room))!
    const idle = busy === 'sfu-a' ? 'sfu-b' : 'sfu-a'
    // Three people, each sending audio and video and receiving the others' four.
    await waitFor('the SFU to report the call', async () => {
      const load = await sfuLoad(busy)
      return load.rooms === 1 && load.participants === 3 && load.streams === 6 && load.viewers === 12 ? true : undefined
    }, {timeoutMs: 15_000})
    const dee = await openAs('dee')
    const second = await openRoomAndJoin(dee)
    expect(await placedOn(second)).toBe(idle)
    expect((await callState(dee)).sfu).toBe(idle)
    await dee.click('#leave')
    await dee.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'left')
    await dee.close()
  }, 90_000)

  it('muting shows on the others\' tiles; unmuting brings the sound back', async () => {
    const [ann, bea] = [pages.get('ann')!, pages.get('bea')!]
    await ann.click('#mute')
    expect(await ann.getAttribute('#mute', 'aria-pressed')).toBe('true')
    await bea.waitForFunction(() => document.querySelector<HTMLElement>('#tiles li[data-peer][aria-label="ann"] .call-muted')?.hidden === false, undefined, {timeout: 10_000})
    await ann.click('#mute')
    await bea.waitForFunction(() => document.querySelector<HTMLElement>('#tiles li[data-peer][aria-label="ann"] .call-muted')?.hidden === true, undefined, {timeout: 10_000})
    await seesAndHears(bea, ['ann', 'cal'])
  }, 60_000)

  it('inviting by username from the call rings their bell with a link into it; a name that is nobody, or hostile, is refused in the page', async () => {
    const [ann, bea] = [pages.get('ann')!, pages.get('bea')!]
    await ann.click('summary:has-text("Invite someone")')
    await ann.fill('#invite-username', '<img src=x onerror=alert(1)>')
    await ann.click('#invite button[type=submit]')
    await ann.waitForFunction(() => document.getElementById('invite-error')?.hidden === false)
    expect(await ann.locator('#invite-error').textContent()).toBe('Nobody here is called <img src=x onerror=alert(1)>: check the spelling.')
    await ann.fill('#invite-username', 'ann')
    await ann.click('#invite button[type=submit]')
    await ann.waitForFunction(() => document.getElementById('invite-error')?.textContent?.startsWith('That is you'))
    await ann.fill('#invite-username', 'dee')
    await ann.click('#invite button[type=submit]')
    await ann.waitForFunction(() => document.getElementById('call-notice')?.hidden === false)
    expect(await ann.locator('#call-notice').textContent()).toBe('We told dee: a link to this call is in their notifications.')
    // Still in the call (the form was sent from the page).
    expect((await callState(ann)).phase).toBe('in-call')
    // dee's notifications have it, and its link leads into the room.
    const deeContext = contexts[contexts.length - 1]!
    const deePage = await deeContext.newPage()
    await deePage.goto(`${site.frontUrl()}/notifications`)
    await deePage.click('text=ann invites you to a call')
    await deePage.waitForURL(`**/calls/${room}`)
    await deePage.waitForFunction(() => document.getElementById('call-status')?.dataset.phase === 'lobby', undefined, {timeout: 20_000})
    await deePage.close()
    await seesAndHears(bea, ['ann', 'cal'])
  }, 60_000)

  it('Call someone (from /calls) opens a new room, says whom it told, and refuses a name that is nobody', async () => {
    const dee = await contexts[contexts.length - 1]!.newPage()
    await dee.goto(`${site.frontUrl()}/calls`)
    await dee.getByLabel('Username').fill('nobody-here')
    await dee.getByRole('button', {name: 'Call', exact: true}).click()
    expect(await dee.locator('#call-someone-error').textContent()).toBe('Nobody here is called nobody-here: check the spelling.')
    expect(await dee.getAttribute('#call-someone-username', 'aria-invalid')).toBe('true')
    await dee.getByLabel('Username').fill('cal')
    await dee.getByRole('button', {name: 'Call', exact: true}).click()
    await dee.waitForURL(/\/calls\/[A-Za-z0-9_-]{22}\?invited=cal$/)
    expect(await dee.locator('#call-notice').textContent()).toBe('We told cal: a link to this call is in their notifications.')
    expect(await screenshotDesktopAndPhone(dee, 'call-invited')).toBeLessThanOrEqual(PHONE.width)
    await dee.close()
  }, 60_000)

  it('a fourth person, placed on the other SFU process because the room\'s is full, and the three see and hear each other; her leaving reaches them', async () => {
    const hub = (await placedOn(room))!
    const other = hub === 'sfu-a' ? 'sfu-b' : 'sfu-a'
    await waitFor('the room\'s SFU to report itself full', async () => ((await sfuLoad(hub)).slotsFree === 0 ? true : undefined), {timeoutMs: 15_000})
    const eve = await openAs('eve')
    const started = performance.now()
    await joinRoom(eve, room)
    // On the other process; the room is still the first one's.
    expect((await callState(eve)).sfu).toBe(other)
    expect(await placedOn(room)).toBe(hub)
    const everyone = [...NAMES, 'eve']
    for (const name of everyone) {
      const seen = await seesAndHears(pages.get(name)!, everyone.filter((o) => o !== name))
      console.log(`calls span: ${name} (on ${(await callState(pages.get(name)!)).sfu}) receives ${seen.map((r) => `${r.name} ${r.frames} frames rms=${r.audioRms.toFixed(3)}`).join(', ')}`)
    }
    console.log(`calls span: 4 participants on 2 SFU processes connected in ${Math.round(performance.now() - started)} ms`)
    expect(site.get(other).process.output()).toContain('call: room continues here from its hub')
    expect(site.get(hub).process.output()).toContain('call: room continues on another SFU')
    // Each process counts its own people (the others are remote peers there).
    await waitFor('each SFU to count its own participants', async () => ((await sfuLoad(hub)).participants === 3 && (await sfuLoad(other)).participants === 1 ? true : undefined), {timeoutMs: 15_000})
    // News lost on the way is mended: a participant the hub never had (as if its leaving were lost) goes from eve's call by itself.
    await site.client.publish(CALL_EVENTS_CHANNEL, JSON.stringify({room, sfu: hub, event: {type: 'peerJoined', peer: 'ghost-of-a-lost-message', name: 'ghost'}}))
    await eve.waitForFunction(() => document.querySelector('#tiles li[aria-label="ghost"]') !== null, undefined, {timeout: 10_000})
    // The hub's own pages heard it too: told it left, in a message eve's SFU takes for its own news repeated (it ignores it).
    await site.client.publish(CALL_EVENTS_CHANNEL, JSON.stringify({room, sfu: hub, relayed: other, event: {type: 'peerLeft', peer: 'ghost-of-a-lost-message'}}))
    await pages.get('ann')!.waitForFunction(() => document.querySelector('#tiles li[aria-label="ghost"]') === null, undefined, {timeout: 10_000})
    await eve.waitForFunction(() => document.querySelector('#tiles li[aria-label="ghost"]') === null, undefined, {timeout: 45_000, polling: 1000})
    expect(site.get(other).process.output()).toContain('the room is mended')
    // Muting on the other process shows at the hub's people.
    await eve.click('#mute')
    await pages.get('ann')!.waitForFunction(() => document.querySelector<HTMLElement>('#tiles li[data-peer][aria-label="eve"] .call-muted')?.hidden === false, undefined, {timeout: 10_000})
    await eve.click('#leave')
    for (const name of NAMES) {
      await pages.get(name)!.waitForFunction(() => document.querySelectorAll('#tiles li[data-peer]').length === 2, undefined, {timeout: 10_000})
    }
    // Her room there closes with her; the three still see each other.
    await waitFor('the room to close on the other SFU', async () => ((await site.metric(other, 'shing_sfu_call_rooms')) === 0 ? true : undefined), {timeoutMs: 10_000})
    await seesAndHears(pages.get('ann')!, ['bea', 'cal'])
    // She comes back (to the other SFU again, the room's being full, once its record shows it has room again), and stays for the next test.
    await waitFor('the other SFU to report room again', async () => (((await sfuLoad(other)).slotsFree ?? 0) > 0 ? true : undefined), {timeoutMs: 15_000})
    await eve.click('#rejoin')
    await joinFromLobby(eve)
    expect((await callState(eve)).sfu).toBe(other)
    await seesAndHears(eve, NAMES)
    spanned = true
  }, 180_000)

  it('the SFU the room is on (its hub) is killed: all four, those on the other SFU too, join again on the other by themselves and see each other', async () => {
    const doomed = (await placedOn(room))!
    const survivor = doomed === 'sfu-a' ? 'sfu-b' : 'sfu-a'
    // eve is on the survivor already (the room spans both): she is told to join again when the room moves.
    const everyone = pages.has('eve') ? [...NAMES, 'eve'] : [...NAMES]
    const rejoinsBefore = new Map(await Promise.all(everyone.map(async (name) => [name, (await callState(pages.get(name)!)).rejoins] as const)))
    const killedAt = performance.now()
    await site.get(doomed).process.kill('SIGKILL')
    try {
      const back: number[] = []
      for (const name of everyone) {
        const page = pages.get(name)!
        await waitFor(`${name} to be in the call on ${survivor}, joined again`, async () => {
          const state = await callState(page)
          // eve, on the survivor already, may stay in her room there (the others' joins take it over) or join again (told the room moved): either way she sees them below.
          const again = name === 'eve' || state.rejoins > rejoinsBefore.get(name)!
          return state.sfu === survivor && state.phase === 'in-call' && again ? true : undefined
        }, {timeoutMs: 45_000, intervalMs: 250})
        back.push(performance.now() - killedAt)
      }
      for (const name of everyone) await seesAndHears(pages.get(name)!, everyone.filter((other) => other !== name))
      const seconds = (performance.now() - killedAt) / 1000
      console.log(`calls: SFU killed; rejoined on ${survivor} after ${back.map((ms) => (ms / 1000).toFixed(1)).join('/')} s, all seen and heard again after ${seconds.toFixed(1)} s`)
      failover = seconds
      expect(await placedOn(room)).toBe(survivor)
      expect(seconds).toBeLessThan(45)
      // eve goes: the tests after this one have the three.
      const eve = pages.get('eve')
      if (eve !== undefined) {
        await eve.click('#leave')
        for (const name of NAMES) await pages.get(name)!.waitForFunction(() => document.querySelectorAll('#tiles li[data-peer]').length === 2, undefined, {timeout: 10_000})
        const context = eve.context()
        contexts.splice(contexts.indexOf(context), 1)
        pages.delete('eve')
        await context.close()
      }
    } finally {
      // The killed SFU comes back (as the swarm restarts a task), empty; the tests after this one have two again.
      await site.start(doomed, sfuEnv[doomed])
    }
  }, 150_000)

  it('two people whose browsers may use only TURN (relay) still call: their media goes through the SFU\'s coturn', async () => {
    const relayed: Page[] = []
    for (const name of ['ann', 'bea']) {
      const page = await pages.get(name)!.context().newPage()
      await page.addInitScript(() => {
        ;(window as unknown as {shingCallRelayOnly: boolean}).shingCallRelayOnly = true
      })
      relayed.push(page)
    }
    const [ann, bea] = relayed as [Page, Page]
    await joinRoom(bea, await openRoomAndJoin(ann))
    await seesAndHears(ann, ['bea'])
    await seesAndHears(bea, ['ann'])
    // Only relay candidates were allowed: the connection in use is through TURN.
    const connections = await ann.evaluate(() => window.shingCallConnections())
    expect(connections).toHaveLength(2)
    expect(connections.every((c) => c.type === 'relay'), JSON.stringify(connections)).toBe(true)
    // Without the restriction, the same browser goes straight to the SFU (ann's first page, still in the first call).
    const direct = await pages.get('ann')!.evaluate(() => window.shingCallConnections())
    expect(direct).toHaveLength(2)
    expect(direct.every((c) => c.type === 'host'), JSON.stringify(direct)).toBe(true)
    for (const page of relayed) {
      await page.click('#leave')
      await page.close()
    }
  }, 90_000)

  it('leaving removes the tile at the others; the last one out closes the room on its SFU', async () => {
    const cal = pages.get('cal')!
    await cal.click('#leave')
    expect(await cal.locator('#call-status').textContent()).toContain('You left the call')
    for (const name of ['ann', 'bea']) {
      await pages.get(name)!.waitForFunction(() => document.querySelectorAll('#tiles li[data-peer]').length === 1, undefined, {timeout: 10_000})
    }
    const sfu = (await placedOn(room))!
    for (const name of ['ann', 'bea']) await pages.get(name)!.click('#leave')
    await waitFor('the room to close on its SFU', async () => ((await site.metric(sfu, 'shing_sfu_call_rooms')) === 0 ? true : undefined), {timeoutMs: 10_000})
    // The keyboard reaches every control: Join again is focused after leaving.
    expect(await pages.get('ann')!.evaluate(() => document.activeElement?.id)).toBe('rejoin')
    expect(dialogs).toEqual([])
  }, 60_000)

  it('refuses what it must: no session, a malformed request, a room id that is not one, a forged SFU request', async () => {
    // A socket without a session is refused with the reason.
    const anonymous = io(`${site.frontUrl()}${CALLS_NAMESPACE}`, {path: '/socket.io', transports: ['websocket'], reconnection: false})
    const refusal = await new Promise<string>((resolve) => anonymous.on('connect_error', (error) => resolve(error.message)))
    anonymous.close()
    expect(refusal).toBe('Log in to join calls.')

    // A logged-in socket that asks nonsense is told so; one that asks before joining is told to join.
    const ann = pages.get('ann')!
    const answers = await ann.evaluate(async () => {
      const socket = (window as unknown as {io: (n: string, o: object) => {timeout(ms: number): {emitWithAck(e: string, b: unknown): Promise<unknown>}; close(): void}}).io('/calls', {path: '/socket.io', transports: ['websocket']})
      const ask = (body: unknown): Promise<unknown> => socket.timeout(5000).emitWithAck('call', body)
      const result = [await ask({method: 'join', room: '../../etc'}), await ask({method: 'consume', transportId: 'x', producerId: 'y'}), await ask('<script>')]
      socket.close()
      return result
    })
    expect(answers[0]).toMatchObject({ok: false, error: expect.stringContaining('not understood')})
    expect(answers[1]).toMatchObject({ok: false, error: 'Join the call first.'})
    expect(answers[2]).toMatchObject({ok: false})

    const notARoom = await fetch(`${site.frontUrl()}/calls/not-a-room`, {headers: {cookie: `shing_session=${(await ann.context().cookies()).find((c) => c.name === 'shing_session')!.value}`}})
    expect(notARoom.status).toBe(404)
    expect(await notARoom.text()).toContain('No room has that address')

    // The SFU answers only the web: a request without its token is refused.
    const forged = await fetch(`http://127.0.0.1:${site.get('sfu-b').httpPort}${SFU_RPC_PATH}`, {
      method: 'POST',
      headers: {'content-type': 'application/json', authorization: 'Bearer guess'},
      body: JSON.stringify({room, peer: 'p', user: {id: 'u', name: 'x'}, request: {method: 'join', room}}),
    })
    expect(forged.status).toBe(401)
  })

  it('the SFU\'s health names TURN; coturn dead is the SFU broken (/healthz 503 naming it, so swarm replaces the task)', async () => {
    const sfu = site.get('sfu-b')
    const healthz = async (): Promise<{status: number; body: {checks: Record<string, string>}}> => {
      const answer = await fetch(`http://127.0.0.1:${sfu.httpPort}/healthz`)
      return {status: answer.status, body: (await answer.json()) as {checks: Record<string, string>}}
    }
    expect((await healthz()).body.checks.turn).toBe('ok')
    const {stdout} = await execa('pgrep', ['-P', String(sfu.process.pid), '-f', 'turnserver'], {reject: false})
    const pid = Number(stdout.trim().split('\n')[0])
    expect(pid).toBeGreaterThan(0)
    process.kill(pid, 'SIGKILL')
    const broken = await waitFor('/healthz 503', async () => {
      const answer = await healthz()
      return answer.status === 503 ? answer : undefined
    }, {timeoutMs: 10_000})
    expect(broken.body.checks.turn).toBe('failing')
  })

  it('a participant whose web instance dies with their connection leaves the room by itself (their presence runs out)', async () => {
    const ann = pages.get('ann')!
    // ann's page straight on the web instance that stays (through the front it may be on web-2, which dies below).
    await ann.goto(`http://127.0.0.1:${site.get('web').httpPort}/calls`)
    await ann.click('button:has-text("Open a room")')
    await ann.waitForURL(/\/calls\/[A-Za-z0-9_-]{22}$/)
    await joinFromLobby(ann)
    const roomId = new URL(ann.url()).pathname.split('/').pop()!
    // dee listens only (joins, sends nothing, receives nothing: no transport of theirs ever connects), through web-2.
    const deeCookie = (await contexts[contexts.length - 1]!.cookies()).find((c) => c.name === 'shing_session')!.value
    const dee = io(`http://127.0.0.1:${site.get('web-2').httpPort}${CALLS_NAMESPACE}`, {path: '/socket.io', transports: ['websocket'], reconnection: false, extraHeaders: {cookie: `shing_session=${deeCookie}`}})
    const joined = (await dee.timeout(10_000).emitWithAck('call', {method: 'join', room: roomId})) as {ok: boolean}
    expect(joined.ok).toBe(true)
    await ann.waitForFunction(() => document.querySelector('#tiles li[aria-label="dee"]') !== null, undefined, {timeout: 10_000})
    const killedAt = performance.now()
    await site.get('web-2').process.kill('SIGKILL')
    dee.close()
    await ann.waitForFunction(() => document.querySelector('#tiles li[aria-label="dee"]') === null, undefined, {timeout: 100_000, polling: 1000})
    console.log(`calls: a listener whose web instance died was gone from the room after ${((performance.now() - killedAt) / 1000).toFixed(0)} s`)
    expect(site.get('sfu-a').process.output() + site.get('sfu-b').process.output()).toContain('page gone')
    await ann.click('#leave')
  }, 150_000)
})

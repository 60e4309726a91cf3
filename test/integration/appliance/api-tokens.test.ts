/**
 * The JSON API and personal access tokens, through a real web process on real Redis and FerretDB:
 * the OpenAPI document and Swagger UI (in Chromium, under the site's Content-Security-Policy), a
 * token made on /account/tokens and used by a "script", scopes (a read-only token cannot make
 * stream keys; the admin scope only while its account is an admin), revoked and banned accounts'
 * tokens refused, failed attempts throttled, and CSRF still guarding cookie requests.
 */
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createdUserSchema, MONGO_DATABASE} from '../../../appliance/contract/index.js'
import {runAdminOperation} from '../../harness/appliance.js'
import {screenshot} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {csrfToken, FormClient} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'

let site: LiveSite
let chromium: RunningChromium
let page: Page
let web: string
const accounts: Record<'streamer' | 'boss', {password: string; client: FormClient}> = {} as never
/** Tokens the tests make, by what they may do. */
const tokens: {keys?: string; readOnly?: string; admin?: string} = {}
const CHANNEL = 'scripted'

interface Answer<T = Record<string, unknown>> {
  status: number
  body: T
  headers: Headers
}

/** A script's call: a token (or none), JSON back, from an address of its own. */
async function call<T = Record<string, unknown>>(method: string, path: string, token: string | undefined, address = '198.51.100.200'): Promise<Answer<T>> {
  const response = await fetch(`${web}${path}`, {
    method,
    headers: {...(token === undefined ? {} : {authorization: `Bearer ${token}`}), 'x-forwarded-for': address},
    signal: AbortSignal.timeout(15_000),
  })
  return {status: response.status, body: (await response.json()) as T, headers: response.headers}
}

const users = () => site.mongoClient.db(MONGO_DATABASE).collection('users')

beforeAll(async () => {
  site = await startLiveSite()
  await site.start('web')
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  const env = {...site.env, SHING_COMPONENT: 'web'}
  for (const [name, role, address] of [['streamer', 'user', '198.51.100.101'], ['boss', 'admin', '198.51.100.102']] as const) {
    const created = await runAdminOperation('user.create', {username: name, email: `${name}@example.test`, role}, env)
    const password = createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined).password
    const client = new FormClient(web, address)
    expect((await client.submit('/login', '/login', {login: name, password})).status).toBe(303)
    accounts[name] = {password, client}
  }
  expect((await accounts.streamer.client.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: ''})).status).toBe(303)
  chromium = await launchChromium()
  page = await chromium.newPage()
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

describe('the API describes itself', () => {
  it('/api/openapi.json is an OpenAPI 3 document of the /api routes only, with the token endpoints and their scopes', async () => {
    const {status, body} = await call<{openapi: string; paths: Record<string, Record<string, {summary?: string; description?: string; tags?: string[]}>>; components: {securitySchemes: Record<string, {scheme?: string}>}}>('GET', '/api/openapi.json', undefined)
    expect(status).toBe(200)
    expect(body.openapi).toMatch(/^3\.\d+\.\d+$/)
    const paths = Object.keys(body.paths)
    expect(paths.every((p) => p.startsWith('/api/')), paths.join(' ')).toBe(true)
    expect(paths).toEqual(expect.arrayContaining(['/api/me', '/api/me/channels', '/api/channels/{channel}/stream-keys', '/api/channels/{channel}/stream-keys/{keyId}', '/api/admin/users', '/api/streams/{channel}/vods']))
    expect(Object.keys(body.paths['/api/channels/{channel}/stream-keys']!).sort()).toEqual(['get', 'post'])
    const create = body.paths['/api/channels/{channel}/stream-keys']!.post!
    expect(create.summary).toBe('Make a stream key for your channel')
    expect(create.description).toContain('stream-keys')
    expect(body.paths['/api/admin/users']!.get!.description).toContain('admin')
    expect(body.components.securitySchemes.token?.scheme).toBe('bearer')
  })

  it('/api/docs is Swagger UI from the site itself, under the site\'s policy (no inline script)', async () => {
    const response = await fetch(`${web}/api/docs`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/text\/html/)
    const csp = response.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    expect(await response.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
  })

  it('an API error is JSON {error, message}: an unknown path, and input that fails the schema', async () => {
    expect(await call('GET', '/api/no/such/thing', undefined)).toMatchObject({status: 404, body: {error: 'not found', message: expect.stringContaining('/api/docs')}})
    const bad = await call('GET', '/api/streams/NOT%20A%20NAME/vods', undefined)
    expect(bad).toMatchObject({status: 400, body: {error: 'bad request', message: expect.stringContaining('channel')}})
  })
})

describe('tokens made on /account/tokens', () => {
  it('a read-only token is shown once, works for /api/me, and the page then shows when it was used', async () => {
    const {client} = accounts.streamer
    const made = await client.submit('/account/tokens', '/account/tokens', {name: 'status script', scopes: 'read'})
    expect(made).toMatchObject({status: 303, location: '/account/tokens'})
    const shown = await client.get('/account/tokens')
    tokens.readOnly = /id="new-token" value="(shing_pat_[A-Za-z0-9_-]{43})"/.exec(shown.text)?.[1]
    expect(tokens.readOnly).toBeDefined()
    expect(shown.text).toMatch(/<td>status script<\/td><td><code>read<\/code><\/td><td class="created">.*?<\/td><td>never<\/td>/)
    // Once: the next visit lists the token, never the token itself.
    expect((await client.get('/account/tokens')).text).not.toContain(tokens.readOnly)
    expect(await site.mongoClient.db(MONGO_DATABASE).collection('accessTokens').countDocuments({hash: {$exists: true}})).toBe(1)

    const me = await call('GET', '/api/me', tokens.readOnly)
    expect(me).toMatchObject({status: 200, body: {username: 'streamer', role: 'user', token: {name: 'status script', scopes: ['read']}}})
    const channels = await call<{channels: {name: string; live: boolean}[]}>('GET', '/api/me/channels', tokens.readOnly)
    expect(channels.body.channels).toEqual([expect.objectContaining({name: CHANNEL, live: false, page: `/c/${CHANNEL}`})])
    const used = /<td>status script<\/td>.*?<td><time datetime="[^"]+">(.*?)<\/time><\/td>/.exec((await client.get('/account/tokens')).text)?.[1]
    expect(used?.replace(/<[^>]+>/g, '')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/)
  })

  it('made in Chromium with the keyboard: a stream-keys token, on a page that fits a phone', async () => {
    await page.goto(`${web}/login`)
    await page.getByLabel('Username or e-mail').fill('streamer')
    await page.getByLabel('Password').fill(accounts.streamer.password)
    await page.getByRole('button', {name: 'Log in'}).click()
    await page.waitForURL(`${web}/account`)
    await page.getByRole('link', {name: 'manage your access tokens'}).click()
    await page.waitForURL(`${web}/account/tokens`)
    await page.getByLabel('Name').fill('OBS start script')
    await page.getByRole('checkbox', {name: /stream-keys/}).focus()
    await page.keyboard.press('Space')
    expect(await page.getByRole('checkbox', {name: /^read/}).isChecked()).toBe(true)
    expect(await page.getByRole('checkbox', {name: /admin/}).count()).toBe(0)
    await page.getByRole('button', {name: 'Make token'}).press('Enter')
    await page.waitForSelector('#new-token')
    tokens.keys = await page.locator('#new-token').inputValue()
    expect(tokens.keys).toMatch(/^shing_pat_/)
    expect(await page.getByRole('button', {name: 'Copy'}).isVisible()).toBe(true)
    await screenshot(page, 'api-tokens')
    await page.setViewportSize({width: 390, height: 844})
    await screenshot(page, 'api-tokens-phone')
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    // Revoke stays in view, not scrolled off beside the table.
    const revoke = await page.getByRole('button', {name: 'Revoke OBS start script'}).boundingBox()
    expect(revoke!.x + revoke!.width).toBeLessThanOrEqual(390)
    await page.setViewportSize({width: 1280, height: 720})
  })
})

describe('what a token may do', () => {
  it('a stream-keys token makes and revokes a key for its own channel; the dashboard shows the key', async () => {
    const created = await call<{channel: string; keyId: string; key: string; server: string}>('POST', `/api/channels/${CHANNEL}/stream-keys`, tokens.keys)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({channel: CHANNEL, server: expect.stringMatching(/^rtmp:\/\/127\.0\.0\.1:\d+\/live$/)})
    expect(created.body.key).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect((await accounts.streamer.client.get(`/dashboard/c/${CHANNEL}`)).text).toContain(created.body.keyId)
    const listed = await call<{keys: {keyId: string}[]}>('GET', `/api/channels/${CHANNEL}/stream-keys`, tokens.readOnly)
    expect(listed.body.keys.map((k) => k.keyId)).toContain(created.body.keyId)

    const revoked = await call('DELETE', `/api/channels/${CHANNEL}/stream-keys/${created.body.keyId}`, tokens.keys)
    expect(revoked).toMatchObject({status: 200, body: {channel: CHANNEL, revoked: [created.body.keyId]}})
    expect(await call('DELETE', `/api/channels/${CHANNEL}/stream-keys/${created.body.keyId}`, tokens.keys)).toMatchObject({status: 404, body: {message: expect.stringContaining('stream-keys')}})
    // Someone else's channel is as good as none.
    expect(await call('POST', '/api/channels/not-mine/stream-keys', tokens.keys)).toMatchObject({status: 404, body: {error: 'not found', message: expect.stringContaining('no channel by that name')}})
  })

  it('a read-only token is refused making a key (403 naming the scope); no token or a wrong one gets 401 naming the fix', async () => {
    const refused = await call('POST', `/api/channels/${CHANNEL}/stream-keys`, tokens.readOnly)
    expect(refused).toMatchObject({status: 403, body: {error: 'forbidden', message: expect.stringContaining('stream-keys scope')}})
    const none = await call('GET', '/api/me', undefined)
    expect(none).toMatchObject({status: 401, body: {error: 'unauthorized', message: expect.stringContaining('/account/tokens')}})
    expect(none.headers.get('www-authenticate')).toBe('Bearer')
    const wrong = await call('GET', '/api/me', `shing_pat_${'x'.repeat(43)}`)
    expect(wrong).toMatchObject({status: 401, body: {message: expect.stringContaining('/account/tokens')}})
  })

  it('the admin scope: only an admin may make it, and it stops working when its account stops being an admin', async () => {
    const forged = await accounts.streamer.client.submit('/account/tokens', '/account/tokens', {name: 'sneaky', scopes: 'admin'})
    expect(forged.status).toBe(400)
    expect(forged.text).toContain('Only an admin can make a token with the admin scope.')
    expect(await call('GET', '/api/admin/users', tokens.readOnly)).toMatchObject({status: 403, body: {message: expect.stringContaining('admin scope')}})

    const {client} = accounts.boss
    expect((await client.get('/account/tokens')).text).toContain('value="admin"')
    await client.submit('/account/tokens', '/account/tokens', {name: 'user report', scopes: 'admin'})
    tokens.admin = /id="new-token" value="([^"]+)"/.exec((await client.get('/account/tokens')).text)?.[1]
    const found = await call<{users: {username: string; status: string}[]}>('GET', '/api/admin/users?q=STREAM', tokens.admin)
    expect(found.status).toBe(200)
    expect(found.body.users).toEqual([expect.objectContaining({username: 'streamer', status: 'active'})])
    expect(await call('GET', '/api/admin/users?limit=0', tokens.admin)).toMatchObject({status: 400, body: {message: expect.stringContaining('limit')}})
    // The admin scope alone does not read the account's own things.
    expect((await call('GET', '/api/me', tokens.admin)).status).toBe(403)

    await users().updateOne({usernameKey: 'boss'}, {$set: {role: 'user'}})
    expect(await call('GET', '/api/admin/users', tokens.admin)).toMatchObject({status: 403, body: {message: expect.stringContaining('admin account')}})
    await users().updateOne({usernameKey: 'boss'}, {$set: {role: 'admin'}})
    expect((await call('GET', '/api/admin/users', tokens.admin)).status).toBe(200)
  })

  it('a browser calls the API with its session; a cross-site POST with the cookie but no CSRF token is refused', async () => {
    const {client} = accounts.streamer
    const me = await client.get('/api/me')
    expect(me.status).toBe(200)
    expect(JSON.parse(me.text)).toMatchObject({username: 'streamer'})
    const keysBefore = await site.mongoClient.db(MONGO_DATABASE).collection('streamKeys').countDocuments({channel: CHANNEL})
    const forged = await client.post(`/api/channels/${CHANNEL}/stream-keys`, {})
    expect(forged.status).toBe(403)
    expect(JSON.parse(forged.text)).toMatchObject({error: 'forbidden', message: expect.stringMatching(/csrf/i)})
    // A bearer header that is not a good token does not turn the cookie's CSRF check off.
    const response = await fetch(`${web}/api/channels/${CHANNEL}/stream-keys`, {method: 'POST', headers: {cookie: `shing_session=${client.cookie('shing_session')}`, authorization: 'Bearer not-a-token', 'x-forwarded-for': '198.51.100.150'}})
    expect(response.status).toBe(401)
    // A token form posted without the page's CSRF token makes nothing either.
    expect((await client.post('/account/tokens', {name: 'forged', scopes: 'read'})).status).toBe(403)
    expect(await site.mongoClient.db(MONGO_DATABASE).collection('streamKeys').countDocuments({channel: CHANNEL})).toBe(keysBefore)
    expect((await client.get('/account/tokens')).text).not.toContain('forged')
    // With the page's token, the same call works.
    const page = await client.get('/account/tokens')
    const made = await fetch(`${web}/api/channels/${CHANNEL}/stream-keys`, {method: 'POST', headers: {cookie: `shing_session=${client.cookie('shing_session')}`, 'csrf-token': csrfToken(page.text)}})
    expect(made.status).toBe(201)
  })
})

describe('tokens that stop working', () => {
  it('a revoked token is refused at once', async () => {
    const {client} = accounts.streamer
    const listing = await client.get('/account/tokens')
    const action = /<form method="post" action="(\/account\/tokens\/[0-9a-f]{24}\/revoke)">(?:(?!<\/tr>).)*Revoke status script/s.exec(listing.text)?.[1]
    expect(action).toBeDefined()
    expect(await client.post(action!, {_csrf: csrfToken(listing.text)})).toMatchObject({status: 303, location: '/account/tokens?revoked=1'})
    expect((await client.get('/account/tokens?revoked=1')).text).not.toContain('status script')
    expect(await call('GET', '/api/me', tokens.readOnly)).toMatchObject({status: 401, body: {message: expect.stringContaining('revoked')}})
  })

  it('ten wrong tokens from one address make it wait; another address and a good token still work', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 13; i++) statuses.push((await call('GET', '/api/me', `shing_pat_${String(i).padStart(43, 'g')}`, '203.0.113.9')).status)
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401))
    expect(statuses.at(-1)).toBe(429)
    const waiting = await call('GET', '/api/me', tokens.keys, '203.0.113.9')
    expect(waiting).toMatchObject({status: 429, body: {message: expect.stringContaining('wait')}})
    expect(waiting.headers.get('retry-after')).toMatch(/^\d+$/)
    expect((await call('GET', '/api/me', tokens.keys, '203.0.113.10')).status).toBe(200)
  })

  it('a banned account\'s tokens stop working at once', async () => {
    expect((await call('GET', '/api/me/channels', tokens.keys)).status).toBe(200)
    await users().updateOne({usernameKey: 'streamer'}, {$set: {status: 'banned'}})
    expect(await call('GET', '/api/me/channels', tokens.keys)).toMatchObject({status: 401, body: {error: 'unauthorized'}})
    expect((await call('POST', `/api/channels/${CHANNEL}/stream-keys`, tokens.keys)).status).toBe(401)
  })
})

describe('the docs in Chromium', () => {
  it('Swagger UI lists the operations, with no Content-Security-Policy violation, on a desktop and a phone', async () => {
    const violations: string[] = []
    page.on('console', (message) => {
      if (/Content[- ]Security[- ]Policy/i.test(message.text())) violations.push(message.text())
    })
    await page.goto(`${web}/api/docs`)
    await page.waitForSelector('.opblock-summary-path')
    const operations = await page.locator('.opblock-summary-path').allTextContents()
    expect(operations.map((o) => o.replace(/\u200b/g, ''))).toEqual(expect.arrayContaining(['/api/me', '/api/channels/{channel}/stream-keys', '/api/admin/users']))
    await page.locator('.opblock-summary', {hasText: 'Make a stream key for your channel'}).first().click()
    await page.waitForSelector('.opblock.is-open')
    await screenshot(page, 'api-docs')
    await page.setViewportSize({width: 390, height: 844})
    await screenshot(page, 'api-docs-phone')
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await page.setViewportSize({width: 1280, height: 720})
    expect(violations).toEqual([])
  })
})

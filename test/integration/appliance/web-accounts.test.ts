/**
 * Accounts on the web, through two real web processes sharing real Redis and FerretDB: sign-up
 * and log-in in Chromium, a session valid on both instances, log-out everywhere, the session id
 * renewed at log-in, CSRF refusals (a forged cross-site form, a missing token), log-in throttling
 * shared by both instances, a banned account logged out at once, hostile input shown as text, and
 * the security headers on every page.
 */
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createdUserSchema, passwordResetSchema} from '../../../appliance/contract/index.js'
import {runAdminOperation} from '../../harness/appliance.js'
import {screenshot} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, serveDir, type RunningChromium, type StaticServer} from '../../harness/chromium.js'
import {csrfToken, FormClient} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {tempDir, waitFor} from '../../harness/process.js'

let site: LiveSite
let chromium: RunningChromium
let page: Page
let attacker: StaticServer | undefined
let attackerDir: {dir: string; remove: () => Promise<void>} | undefined
let webA: string
let webB: string
const dialogs: string[] = []

const PASSWORD = 'correct horse battery staple'
const alice = {username: 'alice', email: 'alice@example.test'}

beforeAll(async () => {
  site = await startLiveSite()
  await Promise.all([site.start('web-a'), site.start('web-b')])
  webA = `http://127.0.0.1:${site.get('web-a').httpPort}`
  webB = `http://127.0.0.1:${site.get('web-b').httpPort}`
  chromium = await launchChromium()
  page = recordDialogs(await chromium.newPage(), dialogs)
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await attacker?.close().catch(() => undefined)
  await attackerDir?.remove()
  await site?.stop()
})

const inlineScript = /<script(?![^>]*\bsrc=)[^>]*>/

describe('every page', () => {
  it('is served under the security headers, with no inline script, and an anonymous visit makes no session', async () => {
    const visitor = new FormClient(webA)
    for (const path of ['/', '/login', '/signup', '/c/nobody-here', '/no/such/page']) {
      const answer = await visitor.get(path)
      expect([200, 404], path).toContain(answer.status)
      const csp = answer.headers.get('content-security-policy') ?? ''
      expect(csp, path).toContain("script-src 'self'")
      expect(csp, path).toContain("frame-ancestors 'none'")
      expect(csp, path).not.toContain('unsafe-inline')
      expect(answer.headers.get('x-content-type-options'), path).toBe('nosniff')
      expect(answer.headers.get('referrer-policy'), path).toBe('strict-origin-when-cross-origin')
      expect(answer.text, path).not.toMatch(inlineScript)
    }
    expect((await new FormClient(webA).get('/')).headers.getSetCookie()).toEqual([])
  })

  it('the same page to every visitor without a session comes from the micro-cache, headers and all', async () => {
    const hits = async (): Promise<number> => site.metric('web-a', 'shing_web_microcache_hits')
    const before = await hits()
    const first = await new FormClient(webA).get('/')
    const again = await new FormClient(webA).get('/')
    expect(await hits()).toBeGreaterThan(before)
    expect(again.text).toBe(first.text)
    expect(again.headers.get('content-security-policy')).toBe(first.headers.get('content-security-policy'))
    expect(again.headers.get('x-content-type-options')).toBe('nosniff')
    expect(again.headers.get('content-type')).toBe('text/html; charset=utf-8')
  })
})

describe('accounts in Chromium', () => {
  it('signs up on one web instance, lands on the account page, and is logged in on the other instance too', async () => {
    await page.goto(`${webA}/signup`)
    await page.getByLabel('Username').fill(alice.username)
    await page.getByLabel('E-mail').fill(alice.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await screenshot(page, 'signup')
    await page.getByRole('button', {name: 'Sign up'}).click()
    await page.waitForURL(/\/account\?welcome=1$/)
    expect(await page.getByRole('heading', {level: 1}).textContent()).toBe('Your account')
    expect(await page.locator('dl.facts').textContent()).toContain(alice.email)
    await screenshot(page, 'account')
    await page.setViewportSize({width: 390, height: 844})
    await screenshot(page, 'account-phone')
    // On a phone nothing is wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await page.setViewportSize({width: 1280, height: 720})

    await page.goto(`${webB}/account`)
    expect(page.url()).toBe(`${webB}/account`)
    expect(await page.locator('.site-header').textContent()).toContain(alice.username)
    // A logged-in visitor never gets the page cached for visitors without a session.
    await page.goto(`${webA}/`)
    expect(await page.locator('.site-header').textContent()).toContain(alice.username)
  })

  it('refuses a hostile sign-up and shows what was typed as text, beside the field to fix', async () => {
    const context = page.context()
    await context.clearCookies()
    const username = '<img src=x onerror=alert(1)>'
    const email = '"><script>alert(2)</script>@x.test'
    await page.goto(`${webA}/signup`)
    await page.getByLabel('Username').fill(username)
    await page.getByLabel('E-mail').fill(email)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Sign up'}).click()
    await page.waitForSelector('.field-error')
    expect(await page.getByLabel('Username').inputValue()).toBe(username)
    expect(await page.getByLabel('E-mail').inputValue()).toBe(email)
    expect(await page.locator('#username-error').textContent()).toMatch(/letters, digits/)
    expect(await page.locator('img').count()).toBe(0)
    await screenshot(page, 'signup-refused')

    // The same name in other letters is taken; the e-mail field keeps its value.
    await page.getByLabel('Username').fill('ALICE')
    await page.getByLabel('E-mail').fill('other@example.test')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Sign up'}).click()
    await page.waitForSelector('#username-error')
    expect(await page.locator('#username-error').textContent()).toContain('taken')
    expect(dialogs).toEqual([])
  })

  it('logs in and out; a wrong password and an unknown name get the same answer', async () => {
    await page.goto(`${webB}/login`)
    await page.getByLabel('Username or e-mail').fill('nobody')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Log in'}).click()
    const unknown = await page.locator('[role=alert]').textContent()
    await page.getByLabel('Username or e-mail').fill(alice.email)
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', {name: 'Log in'}).click()
    expect(await page.locator('[role=alert]').textContent()).toBe(unknown)
    await screenshot(page, 'login-refused')

    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Log in'}).click()
    await page.waitForURL(`${webB}/account`)
    await page.getByRole('button', {name: 'Log out', exact: true}).click()
    await page.waitForURL(`${webB}/`)
    await page.goto(`${webA}/account`)
    expect(page.url()).toBe(`${webA}/login?next=%2Faccount`)
  })
})

describe('sessions', () => {
  it('get a new id at log-in (no fixation), and "log out everywhere" ends every one at once on both instances', async () => {
    const laptop = new FormClient(webA, '198.51.100.1')
    const before = (await laptop.get('/login')).text && laptop.cookie('shing_session')
    expect(before).toBeDefined()
    const login = await laptop.submit('/login', '/login', {login: alice.username, password: PASSWORD})
    expect(login).toMatchObject({status: 303, location: '/account'})
    expect(laptop.cookie('shing_session')).not.toBe(before)

    const phone = new FormClient(webB, '198.51.100.2')
    expect((await phone.submit('/login', '/login', {login: alice.email, password: PASSWORD})).status).toBe(303)
    const account = await phone.get('/account')
    expect(account.text).toMatch(/logged in here and in \d+ other place/)

    const out = await laptop.submit('/account', '/account/logout-everywhere', {}, webB)
    expect(out).toMatchObject({status: 303, location: '/login?out=everywhere'})
    expect((await phone.get('/account')).location).toBe('/login?next=%2Faccount')
    expect((await laptop.get('/account')).location).toBe('/login?next=%2Faccount')
    const user = await site.mongoClient.db('shing').collection('users').findOne({usernameKey: 'alice'})
    expect(await site.client.scard(`shing:user-sessions:${String(user?._id)}`)).toBe(0)
  })

  it('a password change logs out the other sessions and keeps this one', async () => {
    const here = new FormClient(webA, '198.51.100.3')
    const elsewhere = new FormClient(webB, '198.51.100.4')
    await here.submit('/login', '/login', {login: alice.username, password: PASSWORD})
    await elsewhere.submit('/login', '/login', {login: alice.username, password: PASSWORD})
    const wrong = await here.submit('/account', '/account/password', {current: 'not it at all', password: 'a brand new passphrase'})
    expect(wrong.status).toBe(400)
    expect(wrong.text).toContain('That is not your current password.')
    const changed = await here.submit('/account', '/account/password', {current: PASSWORD, password: 'a brand new passphrase'})
    expect(changed).toMatchObject({status: 303, location: '/account?changed=1'})
    expect((await here.get('/account')).status).toBe(200)
    expect((await elsewhere.get('/account')).status).toBe(303)
    await here.submit('/account', '/account/password', {current: 'a brand new passphrase', password: PASSWORD})
  })
})

describe('CSRF', () => {
  it('a form posted from another site is refused and changes nothing', async () => {
    await page.goto(`${webA}/login`)
    await page.getByLabel('Username or e-mail').fill(alice.username)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Log in'}).click()
    await page.waitForURL(`${webA}/account`)

    attackerDir = await tempDir('attacker-site')
    await writeFile(
      path.join(attackerDir.dir, 'index.html'),
      `<!doctype html><form id="f" method="post" action="${webA}/account/password"><input name="current" value="${PASSWORD}"><input name="password" value="owned by the attacker"></form><script>document.getElementById('f').submit()</script>`,
    )
    attacker = await serveDir(attackerDir.dir)
    // localhost is another site than 127.0.0.1 (the cookie is SameSite=Lax and is not sent).
    await page.goto(attacker.url.replace('127.0.0.1', 'localhost'))
    await page.waitForURL(`${webA}/account/password`)
    expect(await page.getByRole('heading', {level: 1}).textContent()).toBe('This form has expired')
    await screenshot(page, 'csrf-refused')

    // The same post from this site but without the token: refused too.
    const client = new FormClient(webA, '198.51.100.5')
    await client.submit('/login', '/login', {login: alice.username, password: PASSWORD})
    const forged = await client.post('/account/password', {current: PASSWORD, password: 'owned by the attacker'})
    expect(forged.status).toBe(403)
    // The password is what it was.
    expect((await new FormClient(webB, '198.51.100.6').submit('/login', '/login', {login: alice.username, password: PASSWORD})).status).toBe(303)
  })
})

describe('abuse', () => {
  it('50 wrong passwords in a row are throttled across both instances; another address is not locked out', async () => {
    const guesser = new FormClient(webA, '203.0.113.7')
    const statuses: number[] = []
    for (let i = 0; i < 50; i++) {
      const base = i % 2 === 0 ? webA : webB
      const login = await guesser.get('/login', base)
      const token = /name="_csrf" value="([^"]+)"/.exec(login.text)?.[1] ?? ''
      statuses.push((await guesser.post('/login', {_csrf: token, login: alice.username, password: `guess number ${i}`}, base)).status)
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(10)
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true)
    const right = await guesser.submit('/login', '/login', {login: alice.username, password: PASSWORD})
    expect(right.status).toBe(429)
    expect(right.text).toContain('Too many attempts')
    expect(right.headers.get('retry-after')).toMatch(/^\d+$/)

    const owner = new FormClient(webB, '198.51.100.20')
    expect((await owner.submit('/login', '/login', {login: alice.username, password: PASSWORD})).status).toBe(303)
  })

  it('a banned account is logged out at once and cannot log in', async () => {
    const client = new FormClient(webA, '198.51.100.30')
    await client.submit('/login', '/login', {login: alice.username, password: PASSWORD})
    expect((await client.get('/account')).status).toBe(200)
    await site.mongoClient.db('shing').collection('users').updateOne({usernameKey: 'alice'}, {$set: {status: 'banned'}})
    expect((await client.get('/account')).location).toBe('/login?next=%2Faccount')
    const again = await client.submit('/login', '/login', {login: alice.username, password: PASSWORD})
    expect(again.status).toBe(401)
    expect(again.text).toContain('cannot log in')
  })
})

describe('from the terminal (admin operations, as `shing user …` runs them)', () => {
  const adminEnv = (): NodeJS.ProcessEnv => ({...site.env, SHING_COMPONENT: 'web'})

  it('user.create makes the first admin with a generated password; a bad name is refused with the fix', async () => {
    const created = await runAdminOperation('user.create', {username: 'siteadmin', email: 'admin@example.test', role: 'admin'}, adminEnv())
    expect(created.exitCode).toBe(0)
    const user = createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined)
    expect(user).toMatchObject({username: 'siteadmin', role: 'admin'})
    expect(user.password.length).toBeGreaterThanOrEqual(20)
    const client = new FormClient(webA, '198.51.100.40')
    expect((await client.submit('/login', '/login', {login: 'admin@example.test', password: user.password})).status).toBe(303)
    expect((await client.get('/account')).text).toMatch(/<dt>Role<\/dt><dd>admin<\/dd>/)

    const bad = await runAdminOperation('user.create', {username: 'no spaces allowed', email: 'x@example.test', role: 'user'}, adminEnv())
    expect(bad.exitCode).toBe(1)
    expect(bad.reply).toMatchObject({ok: false, error: {kind: 'abort', message: expect.stringMatching(/^username: Use 3-30 letters/)}})
    const taken = await runAdminOperation('user.create', {username: 'SiteAdmin', email: 'y@example.test', role: 'user'}, adminEnv())
    expect(taken.reply).toMatchObject({ok: false, error: {kind: 'abort', message: expect.stringContaining('taken')}})
  })

  it('user.reset-password gives a locked-out admin a new password and logs out their sessions', async () => {
    const created = await runAdminOperation('user.create', {username: 'locked-out', email: 'lo@example.test', role: 'admin'}, adminEnv())
    const user = createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined)
    const client = new FormClient(webB, '198.51.100.41')
    await client.submit('/login', '/login', {login: 'locked-out', password: user.password})
    expect((await client.get('/account')).status).toBe(200)

    const reset = await runAdminOperation('user.reset-password', {username: 'LOCKED-OUT'}, adminEnv())
    const result = passwordResetSchema.parse(reset.reply.ok ? reset.reply.result : undefined)
    expect(result).toMatchObject({username: 'locked-out', sessionsEnded: 1})
    expect((await client.get('/account')).status).toBe(303)
    expect((await client.submit('/login', '/login', {login: 'locked-out', password: user.password})).status).toBe(401)
    expect((await client.submit('/login', '/login', {login: 'locked-out', password: result.password})).status).toBe(303)

    const unknown = await runAdminOperation('user.reset-password', {username: 'nobody-at-all'}, adminEnv())
    expect(unknown.reply).toMatchObject({ok: false, error: {kind: 'abort', message: 'no account is named "nobody-at-all"'}})
  })
})

describe('site settings in the admin area: the title and how people sign up', () => {
  let admin: FormClient
  const save = async (settings: {title: string; registration: string; rules: string; channelsPerAccount?: string}): Promise<void> => {
    const answer = await admin.submit('/admin/settings', '/admin/settings', settings)
    expect(answer).toMatchObject({status: 303, location: '/admin/settings?saved=1'})
  }
  /** Settings are cached for a few seconds per web instance. */
  const eventually = <T,>(what: string, check: () => Promise<T | undefined>): Promise<T> => waitFor(what, check, {timeoutMs: 8000, intervalMs: 250})

  it('approval: a new account waits until an admin approves it; the title and rules show, escaped', async () => {
    const created = await runAdminOperation('user.create', {username: 'settings-admin', email: 'sa@example.test', role: 'admin'}, {...site.env, SHING_COMPONENT: 'web'})
    const password = createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined).password
    admin = new FormClient(webA, '198.51.100.50')
    expect((await admin.submit('/login', '/login', {login: 'settings-admin', password})).status).toBe(303)
    await save({title: 'Night <TV>', registration: 'approval', rules: 'Be kind.\n<b>No spam.</b>'})

    const visitor = new FormClient(webB, '198.51.100.51')
    const signup = await eventually('the approval notice on the other instance', async () => {
      const page = await visitor.get('/signup')
      return page.text.includes('An admin approves new accounts') ? page.text : undefined
    })
    expect(signup).toContain('Night &lt;TV&gt;')
    expect(signup).toContain('&lt;b&gt;No spam.&lt;/b&gt;')
    const made = await visitor.submit('/signup', '/signup', {username: 'pending-pat', email: 'pat@example.test', password: PASSWORD})
    expect(made).toMatchObject({status: 303, location: '/login?pending=1'})
    const early = await visitor.submit('/login', '/login', {login: 'pending-pat', password: PASSWORD})
    expect(early.status).toBe(401)
    expect(early.text).toContain('waits for an admin')

    const area = await admin.get('/admin?q=pending')
    const approve = /<form method="post" action="(\/admin\/users\/[0-9a-f]{24}\/status)">[^]*?value="active"><button[^>]*>Approve</.exec(area.text)
    expect(approve).not.toBeNull()
    expect((await admin.post(approve![1]!, {_csrf: csrfToken(area.text), status: 'active'})).status).toBe(303)
    expect((await visitor.submit('/login', '/login', {login: 'pending-pat', password: PASSWORD})).status).toBe(303)
  })

  it('channels per account: one unless the admin allows more; an impossible number is refused with the range', async () => {
    const refused = await admin.submit('/admin/settings', '/admin/settings', {title: '', registration: 'open', rules: '', channelsPerAccount: '0'})
    expect(refused.status).toBe(400)
    expect(refused.text).toContain('Channels per account must be a whole number from 1 to 20.')
    await save({title: '', registration: 'open', rules: ''})
    const owner = new FormClient(webA, '198.51.100.55')
    expect((await owner.submit('/signup', '/signup', {username: 'many-channels', email: 'many@example.test', password: PASSWORD})).status).toBe(303)
    const make = (name: string): Promise<{status: number; text: string}> => owner.submit('/dashboard', '/dashboard/channels', {name, title: ''})
    expect((await make('first-one')).status).toBe(303)
    const second = await make('second-one')
    expect(second.status).toBe(400)
    expect(second.text).toContain('You have a channel already: this site allows 1 per account.')

    await save({title: '', registration: 'open', rules: '', channelsPerAccount: '2'})
    expect((await admin.get('/admin/settings')).text).toMatch(/name="channelsPerAccount"[^>]*value="2"/)
    await eventually('a second channel allowed', async () => ((await make('second-one')).status === 303 ? true : undefined))
    const third = await make('third-one')
    expect(third.status).toBe(400)
    expect(third.text).toContain('You have 2 channels already: this site allows 2 per account.')
    expect((await owner.get('/dashboard')).text).not.toContain('Create a channel')
  })

  it('invite only: a sign-up needs an unused code; closed: nobody signs up; every change is in the audit log', async () => {
    await save({title: '', registration: 'invite', rules: ''})
    const made = await admin.submit('/admin/settings', '/admin/invites', {})
    const code = /id="invite-code" value="([^"]+)"/.exec(made.text)?.[1]
    expect(code).toMatch(/^[A-Za-z0-9_-]{16}$/)

    const guest = new FormClient(webB, '198.51.100.52')
    await eventually('the invite field', async () => ((await guest.get('/signup')).text.includes('name="invite"') ? true : undefined))
    const without = await guest.submit('/signup', '/signup', {username: 'invited-ivy', email: 'ivy@example.test', password: PASSWORD, invite: 'not-a-code'})
    expect(without.status).toBe(400)
    expect(without.text).toContain('This invite code is not valid')
    expect((await guest.submit('/signup', '/signup', {username: 'invited-ivy', email: 'ivy@example.test', password: PASSWORD, invite: code!})).status).toBe(303)
    const reuse = await new FormClient(webB, '198.51.100.53').submit('/signup', '/signup', {username: 'second-sam', email: 'sam@example.test', password: PASSWORD, invite: code!})
    expect(reuse.status).toBe(400)

    await save({title: '', registration: 'closed', rules: ''})
    const closed = new FormClient(webA, '198.51.100.54')
    await eventually('sign-up closed', async () => ((await closed.get('/signup')).text.includes('Sign-ups are closed') ? true : undefined))
    const refused = await closed.post('/signup', {_csrf: csrfToken((await closed.get('/login')).text), username: 'late-lou', email: 'lou@example.test', password: PASSWORD})
    expect(refused.status).toBe(403)

    const audit = await admin.get('/admin/audit')
    for (const action of ['site.settings', 'user.approve', 'invite.create', 'user.create']) expect(audit.text).toContain(`<code>${action}</code>`)
    await save({title: '', registration: 'open', rules: ''})
  })
})

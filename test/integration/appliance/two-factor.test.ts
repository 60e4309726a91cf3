/**
 * Two-factor log-in through a real web process (real Redis, FerretDB): turned on in Chromium by
 * scanning (here: reading) the key and typing a code, recovery codes shown once; then log-in asks
 * for a code after the password, refuses a replayed or wrong one, takes a recovery code once,
 * sends a guesser back to the password after 5 tries; an admin's `user.reset-2fa` turns it off;
 * its owner turns it off with password and code.
 */
import {generate} from 'otplib'
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {twoFactorResetSchema} from '../../../appliance/contract/index.js'
import {runAdminOperation} from '../../harness/appliance.js'
import {screenshot} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {FormClient} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'

let site: LiveSite
let chromium: RunningChromium
let page: Page
let web: string
let secret = ''
let recoveryCodes: string[] = []

const PASSWORD = 'two factors are better than one'
const tess = {username: 'tess', email: 'tess@example.test'}
/** The code an app shows `offset` time steps from now (the server takes one step either way). */
const code = (offset = 0): Promise<string> => generate({secret, epoch: Math.floor(Date.now() / 1000) + offset * 30})

beforeAll(async () => {
  site = await startLiveSite()
  await site.start('web')
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  chromium = await launchChromium()
  page = await chromium.newPage()
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

const logInWithPassword = async (client: FormClient): Promise<string | undefined> =>
  (await client.submit('/login', '/login', {login: tess.username, password: PASSWORD})).location

describe('two-factor log-in', () => {
  it('is turned on from the account page: scan, type a code, and the recovery codes are shown once', async () => {
    await page.goto(`${web}/signup`)
    await page.getByLabel('Username').fill(tess.username)
    await page.getByLabel('E-mail').fill(tess.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', {name: 'Sign up'}).click()
    await page.waitForURL(/\/account/)
    await page.getByRole('link', {name: 'Turn on two-factor log-in'}).click()
    await page.waitForURL(`${web}/account/2fa/setup`)
    expect(await page.locator('.qr svg').count()).toBe(1)
    secret = (await page.locator('code.secret').textContent())!.replace(/\s/g, '')
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/)
    await screenshot(page, 'two-factor-setup')
    await page.setViewportSize({width: 390, height: 844})
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await screenshot(page, 'two-factor-setup-phone')
    await page.setViewportSize({width: 1280, height: 720})

    await page.getByLabel('Code from the app').fill('000000')
    await page.getByRole('button', {name: 'Turn on'}).click()
    expect(await page.locator('#code-error').textContent()).toContain('That code is not right')
    await page.getByLabel('Code from the app').fill(await code())
    await page.getByRole('button', {name: 'Turn on'}).click()
    await page.waitForSelector('ul.codes')
    recoveryCodes = await page.locator('ul.codes code').allTextContents()
    expect(recoveryCodes).toHaveLength(10)
    expect(new Set(recoveryCodes).size).toBe(10)
    await screenshot(page, 'two-factor-recovery-codes')
    await page.getByRole('link', {name: 'I have saved them'}).click()
    expect(await page.locator('main').textContent()).toMatch(/On since \d{4}-\d\d-\d\d.*10 recovery codes left/)
  })

  it('log-in asks for a code after the password; a wrong or replayed code is refused; the next one logs in', async () => {
    const client = new FormClient(web, '192.0.2.50')
    expect(await logInWithPassword(client)).toBe('/login/2fa')
    // Half-way is not logged in.
    expect((await client.get('/account')).status).toBe(303)
    expect((await client.submit('/login/2fa', '/login/2fa', {code: '123456'})).status).toBe(401)
    // The code used to turn it on was used: the same time step is refused.
    const replay = await client.submit('/login/2fa', '/login/2fa', {code: await code()})
    expect(replay.status).toBe(401)
    expect(replay.text).toContain('That code is not right (or was used already)')
    const next = await client.submit('/login/2fa', '/login/2fa', {code: await code(1)})
    expect(next.location).toBe('/account')
    expect((await client.get('/account')).status).toBe(200)
  })

  it('a recovery code logs in once', async () => {
    const client = new FormClient(web, '192.0.2.51')
    await logInWithPassword(client)
    const used = await client.submit('/login/2fa', '/login/2fa', {code: recoveryCodes[0]!.toUpperCase()})
    expect(used.location).toBe('/account?recovery-used=1')
    expect((await client.get('/account?recovery-used=1')).text).toContain('9 recovery codes left')
    const again = new FormClient(web, '192.0.2.52')
    await logInWithPassword(again)
    expect((await again.submit('/login/2fa', '/login/2fa', {code: recoveryCodes[0]!})).status).toBe(401)
  })

  it('five wrong codes send the guesser back to the password', async () => {
    const guesser = new FormClient(web, '192.0.2.53')
    await logInWithPassword(guesser)
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await guesser.submit('/login/2fa', '/login/2fa', {code: String(100000 + i)}))
    expect(answers.slice(0, 4).map((a) => a.status)).toEqual([401, 401, 401, 401])
    expect(answers[4]!.location).toBe('/login')
    expect((await guesser.get('/login/2fa')).location).toBe('/login')
  })

  it('an admin turns it off from the terminal (audited); its owner turns it on and off again with password and code', async () => {
    const reset = await runAdminOperation('user.reset-2fa', {username: tess.username}, {...site.env, SHING_COMPONENT: 'web'})
    expect(twoFactorResetSchema.parse(reset.reply.ok ? reset.reply.result : undefined)).toEqual({username: tess.username, wasOn: true})
    const audit = await site.mongoClient.db('shing').collection('audit').findOne({action: 'user.reset-2fa'})
    expect(audit).toMatchObject({actor: 'terminal', target: tess.username})
    const client = new FormClient(web, '192.0.2.54')
    expect(await logInWithPassword(client)).toBe('/account')

    // On again (from the client this time), then off with the password and a code.
    const setup = await client.get('/account/2fa/setup')
    secret = /<code class="secret">([^<]+)<\/code>/.exec(setup.text)![1]!.replace(/\s/g, '')
    const enabled = await client.submit('/account/2fa/setup', '/account/2fa/enable', {code: await code()})
    expect(enabled.text).toContain('Two-factor log-in is on')
    const wrong = await client.submit('/account', '/account/2fa/disable', {disablePassword: PASSWORD, disableCode: '000000'})
    expect(wrong.status).toBe(400)
    expect(wrong.text).toContain('That code is not right')
    const off = await client.submit('/account', '/account/2fa/disable', {disablePassword: PASSWORD, disableCode: await code(1)})
    expect(off.location).toBe('/account?2fa-off=1')
    expect(await logInWithPassword(new FormClient(web, '192.0.2.55'))).toBe('/account')
  })
})

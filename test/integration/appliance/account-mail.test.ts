/**
 * Account mail through real parts: the web queues it, the worker sends it over SMTP to Mailpit
 * (which demands a log-in), and the test reads the mail and follows its link as a person would.
 * Sign-up's confirmation link, "forgot your password" (the same answer for an account that does not
 * exist), the reset link used once, void after it expired or after the password changed, an
 * address change confirmed from the new address, mail queued while no worker runs and sent once
 * one does, and a site without SMTP that says who resets passwords instead.
 */
import {createHash} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {secretFiles} from '../../../appliance/contract/index.js'
import {screenshot} from '../../harness/artifacts.js'
import {launchChromium, type RunningChromium} from '../../harness/chromium.js'
import {csrfToken, FormClient} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {linkIn, startMailpit, type MailpitServer} from '../../harness/mailpit.js'

let site: LiveSite
let mailpit: MailpitServer
let chromium: RunningChromium
let front: string
let mailEnv: NodeJS.ProcessEnv

const PASSWORD = 'the quick brown fox jumps'
const NEW_PASSWORD = 'over the lazy dog again'
const mia = {username: 'mia', email: 'mia@example.test'}

beforeAll(async () => {
  ;[site, mailpit] = await Promise.all([startLiveSite(), startMailpit()])
  front = site.frontUrl()
  await writeFile(path.join(site.env.SHING_SECRETS_DIR!, secretFiles.smtpPassword), mailpit.password)
  mailEnv = {
    SHING_PUBLIC_URL: front,
    SHING_ADMIN_EMAIL: 'Owner@Example.test',
    SHING_MAIL_FROM: 'Night Owls <live@example.test>',
    SHING_SMTP_HOST: '127.0.0.1',
    SHING_SMTP_PORT: String(mailpit.smtpPort),
    // Mailpit here has no certificate: a relay on the box's own network.
    SHING_SMTP_SECURITY: 'none',
    SHING_SMTP_USER: mailpit.username,
  }
  await Promise.all([site.start('web', mailEnv), site.start('worker', mailEnv), site.start('web-plain', {SHING_PUBLIC_URL: front})])
  chromium = await launchChromium()
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
  await mailpit?.stop()
})

describe('with SMTP', () => {
  const user = new FormClient('', '192.0.2.30')

  it('sign-up mails a confirmation link; following it confirms the address, once', async () => {
    const signup = await user.submit(`${front}/signup`, `${front}/signup`, {...mia, password: PASSWORD})
    expect(signup.status).toBe(303)
    const welcome = await user.get(`${front}/account?welcome=1`)
    expect(welcome.text).toContain('We mailed you a link to confirm your address')
    expect(welcome.text).toContain('not confirmed')

    const mail = await mailpit.waitForMail(mia.email)
    expect(mail.from).toBe('live@example.test')
    expect(mail.subject).toMatch(/^Confirm your e-mail address/)
    expect(mail.text).toContain('Hello mia,')
    const link = linkIn(mail, `${front}/verify-email?token=`)
    expect(mail.html).toContain(`href="${link}"`)

    const followed = await user.get(link)
    expect(followed.status).toBe(303)
    expect(followed.location).toBe('/account?verified=1')
    const account = await user.get(`${front}/account?verified=1`)
    expect(account.text).toContain('Your e-mail address is confirmed.')
    expect(account.text).toMatch(/<span class="badge ok">confirmed<\/span>/)
    // A second click (or the owner's, after a mail scanner's) finds the address confirmed; for anyone else the link is used.
    expect((await user.get(link)).location).toBe('/account?verified=1')
    const again = await new FormClient('').get(link)
    expect(again.status).toBe(400)
    expect(again.text).toContain('This link no longer works')
  })

  it('"forgot your password" answers the same for anyone, and mails only an account that exists', async () => {
    const stranger = new FormClient('', '192.0.2.31')
    const unknown = await stranger.submit(`${front}/forgot`, `${front}/forgot`, {login: 'nobody@example.test'})
    const known = await stranger.submit(`${front}/forgot`, `${front}/forgot`, {login: 'MIA'})
    expect(unknown.status).toBe(200)
    expect(known.status).toBe(200)
    const notice = (html: string): string | undefined => /<p class="notice ok"[^>]*>([^<]+)<\/p>/.exec(html)?.[1]
    expect(notice(unknown.text)).toContain('If an account uses that name or address')
    expect(notice(known.text)).toBe(notice(unknown.text))
    const mail = await mailpit.waitForMail(mia.email, {count: 2})
    expect(mail.subject).toMatch(/^Reset your password/)
    expect(await mailpit.mailTo('nobody@example.test')).toEqual([])
  })

  it('the reset link shows a form in Chromium, keeps working after a refused password, then works once and logs every session out', async () => {
    const [mail] = await mailpit.mailTo(mia.email)
    const link = linkIn(mail!, `${front}/reset?token=`)
    const page = await chromium.newPage()
    await page.goto(`${front}/forgot`)
    await screenshot(page, 'forgot-password')
    await page.goto(link)
    await page.getByLabel('New password').fill('short')
    await page.getByRole('button', {name: 'Set the new password'}).click()
    await page.waitForSelector('#password-error')
    expect(await page.locator('#password-error').textContent()).toMatch(/at least/i)
    await screenshot(page, 'password-reset')
    await page.getByLabel('New password').fill(NEW_PASSWORD)
    await page.getByRole('button', {name: 'Set the new password'}).click()
    await page.waitForURL(`${front}/login?reset=1`)
    expect(await page.locator('.notice.ok').textContent()).toContain('Your password was changed')
    await screenshot(page, 'login-after-reset')
    await page.close()

    // The session from sign-up is gone; the old password no longer works, the new one does.
    expect((await user.get(`${front}/account`)).status).toBe(303)
    expect((await user.submit(`${front}/login`, `${front}/login`, {login: mia.username, password: PASSWORD})).status).toBe(401)
    expect((await user.submit(`${front}/login`, `${front}/login`, {login: mia.username, password: NEW_PASSWORD})).status).toBe(303)
    // Used once: refused after.
    const reused = await new FormClient('').get(link)
    expect(reused.status).toBe(400)
    expect(reused.text).toContain('Ask for a new one')
  })

  it('a reset link is void once it expired, and once the password changed after it was sent', async () => {
    const asker = new FormClient('', '192.0.2.32')
    await asker.submit(`${front}/forgot`, `${front}/forgot`, {login: mia.email})
    await asker.submit(`${front}/forgot`, `${front}/forgot`, {login: mia.email})
    await mailpit.waitForMail(mia.email, {count: 4})
    const [newest, older] = await mailpit.mailTo(mia.email)
    const first = linkIn(older!, `${front}/reset?token=`)
    const second = linkIn(newest!, `${front}/reset?token=`)
    // Redis expires the first link (an hour in real life; a second here).
    const token = new URL(first).searchParams.get('token')!
    expect(await site.client.pexpire(`shing:mail-link:reset:${createHash('sha256').update(token).digest('hex')}`, 200)).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect((await asker.get(first)).status).toBe(400)

    // The second works; a third link made before that change would be void: the password moved on.
    const third = await (async () => {
      await asker.submit(`${front}/forgot`, `${front}/forgot`, {login: mia.email})
      return linkIn(await mailpit.waitForMail(mia.email, {count: 5}), `${front}/reset?token=`)
    })()
    const form = await asker.get(second)
    expect(form.status).toBe(200)
    const reset = await asker.post(`${front}/reset`, {_csrf: csrfToken(form.text), token: new URL(second).searchParams.get('token')!, password: PASSWORD})
    expect(reset.status).toBe(303)
    const stale = await asker.get(third)
    expect(stale.status).toBe(400)
    expect(stale.text).toContain('your password changed since it was sent')
  })

  it('a new address is used once it is confirmed from itself; the old address is told', async () => {
    const logIn = await user.submit(`${front}/login`, `${front}/login`, {login: mia.username, password: PASSWORD})
    expect(logIn.status).toBe(303)
    const wrong = await user.submit(`${front}/account`, `${front}/account/email`, {email: 'mia.new@example.test', emailPassword: 'not it at all'})
    expect(wrong.status).toBe(400)
    expect(wrong.text).toContain('That is not your current password.')
    const asked = await user.submit(`${front}/account`, `${front}/account/email`, {email: 'mia.new@example.test', emailPassword: PASSWORD})
    expect(asked.location).toBe('/account?email-sent=1')
    // Until it is confirmed, the account keeps its address.
    expect((await user.get(`${front}/account`)).text).toContain(mia.email)
    const confirm = await mailpit.waitForMail('mia.new@example.test')
    expect(confirm.subject).toMatch(/^Confirm your new e-mail address/)
    const done = await user.get(linkIn(confirm, `${front}/verify-email/change?token=`))
    expect(done.location).toBe('/account?email-changed=1')
    const account = await user.get(`${front}/account`)
    expect(account.text).toContain('mia.new@example.test')
    expect(account.text).toMatch(/<span class="badge ok">confirmed<\/span>/)
    const notice = await mailpit.waitForMail(mia.email, {count: 6})
    expect(notice.subject).toMatch(/^Your e-mail address was changed/)
    expect(notice.text).toContain('mia.new@example.test')
  })

  it('mail asked for while no worker runs is sent when one starts: nothing is lost; stream keys wait for the confirmed address', async () => {
    await site.get('worker').process.stop()
    const noah = new FormClient(front, '192.0.2.33')
    const signup = await noah.submit('/signup', '/signup', {username: 'noah', email: 'noah@example.test', password: PASSWORD})
    expect(signup.status).toBe(303)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(await mailpit.mailTo('noah@example.test')).toEqual([])

    // Unconfirmed: a channel yes, a stream key not yet (the page says why; a forged post is refused too).
    expect((await noah.submit('/dashboard', '/dashboard/channels', {name: 'noahs-show', title: ''})).status).toBe(303)
    const channelPage = await noah.get('/dashboard/c/noahs-show')
    expect(channelPage.text).toMatch(/id="keys-refusal">Confirm your e-mail address first/)
    const refused = await noah.submit('/dashboard/c/noahs-show', '/dashboard/c/noahs-show/keys', {})
    expect(refused.status).toBe(403)
    expect(refused.text).toContain('Confirm your e-mail address first')

    await site.start('worker', mailEnv)
    const mail = await mailpit.waitForMail('noah@example.test')
    expect(mail.subject).toMatch(/^Confirm your e-mail address/)
    expect((await noah.get(linkIn(mail, `${front}/verify-email?token=`).slice(front.length))).location).toBe('/account?verified=1')
    const made = await noah.submit('/dashboard/c/noahs-show', '/dashboard/c/noahs-show/keys', {})
    expect(made.location).toBe('/dashboard/c/noahs-show')
    expect((await noah.get('/dashboard/c/noahs-show')).text).toContain('id="new-key"')
  })
})

describe('the first admin', () => {
  it('is whoever signs up with site.adminEmail and confirms it, while the site has no admin; the audit log says so', async () => {
    const owner = new FormClient(front, '192.0.2.34')
    expect((await owner.submit('/signup', '/signup', {username: 'site-owner', email: 'owner@example.test', password: PASSWORD})).status).toBe(303)
    expect((await owner.get('/admin')).status).toBe(403)
    const mail = await mailpit.waitForMail('owner@example.test')
    expect((await owner.get(linkIn(mail, `${front}/verify-email?token=`).slice(front.length))).location).toBe('/account?verified=1')
    expect((await owner.get('/account')).text).toContain('<dt>Role</dt><dd>admin</dd>')
    expect((await owner.get('/admin')).status).toBe(200)
    expect((await owner.get('/admin/audit')).text).toContain('<code>user.first-admin</code>')
  })
})

describe('without SMTP', () => {
  it('needs no confirmation, and "forgot" says the admin resets passwords', async () => {
    const plain = `http://127.0.0.1:${site.get('web-plain').httpPort}`
    const someone = new FormClient(plain, '192.0.2.40')
    expect((await someone.submit('/signup', '/signup', {username: 'ola', email: 'ola@example.test', password: PASSWORD})).status).toBe(303)
    const account = await someone.get('/account?welcome=1')
    expect(account.text).toContain('Welcome! Your account is ready.')
    expect(account.text).not.toContain('confirmed')
    const forgot = await someone.get('/forgot')
    expect(forgot.text).toContain('This site sends no e-mail')
    expect(forgot.text).toContain('shing user reset-password')
    // The address changes at once: there is no mail to confirm it with.
    const changed = await someone.submit('/account', '/account/email', {email: 'ola.new@example.test', emailPassword: PASSWORD})
    expect(changed.location).toBe('/account?email-changed=1')
    expect((await someone.get('/account')).text).toContain('ola.new@example.test')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await mailpit.mailTo('ola@example.test')).toEqual([])
  })
})

/**
 * A channel's chat moderation page through a real web process on real Redis and FerretDB, in
 * Chromium: the owner sets slow mode and banned terms, and the chat itself refuses a message with
 * one and holds a fast writer back; the owner bans and deletes from the chat and sees it on the
 * page; adds a moderator who may only delete, who then sees the log and the bans but neither the
 * settings nor the moderators; given the right to ban, that moderator unbans; the log names who
 * did what. A stranger gets nothing; hostile names and terms show as text. Looked at on a desktop
 * and on a phone.
 */
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createdUserSchema} from '../../../appliance/contract/index.js'
import {runAdminOperation} from '../../harness/appliance.js'
import {screenshot} from '../../harness/artifacts.js'
import {launchChromium, recordDialogs, type RunningChromium} from '../../harness/chromium.js'
import {csrfToken, FormClient, signUpThroughForm} from '../../harness/http-client.js'
import {startLiveSite, type LiveSite} from '../../harness/live-site.js'
import {waitFor} from '../../harness/process.js'

let site: LiveSite
let chromium: RunningChromium
let page: Page
let web: string
let owner: FormClient
let helper: FormClient
let chatter: FormClient
let troll: FormClient
let stranger: FormClient
let staff: FormClient
const dialogs: string[] = []

const PASSWORD = 'correct horse battery staple'
const CHANNEL = 'night-chat'
const PAGE = `/c/${CHANNEL}/moderation`
const HOSTILE = '<script>alert(1)</script>'

beforeAll(async () => {
  site = await startLiveSite()
  await site.start('web')
  web = `http://127.0.0.1:${site.get('web').httpPort}`
  owner = await signUp('room-owner', '198.51.100.90')
  helper = await signUp('room-helper', '198.51.100.91')
  chatter = await signUp('chatter-one', '198.51.100.92')
  troll = await signUp('loud-troll', '198.51.100.93')
  stranger = await signUp('passer-by', '198.51.100.94')
  const created = await runAdminOperation('user.create', {username: 'site-staff', email: 'site-staff@example.test', role: 'moderator'}, {...site.env, SHING_COMPONENT: 'web'})
  staff = new FormClient(web, '198.51.100.95')
  expect((await staff.submit('/login', '/login', {login: 'site-staff', password: createdUserSchema.parse(created.reply.ok ? created.reply.result : undefined).password})).status).toBe(303)
  expect(await owner.submit('/dashboard', '/dashboard/channels', {name: CHANNEL, title: 'Talk after dark'})).toMatchObject({status: 303})
  chromium = await launchChromium()
  page = recordDialogs(await chromium.newPage(), dialogs)
})

afterAll(async () => {
  await chromium?.close().catch(() => undefined)
  await site?.stop()
})

const signUp = (username: string, address: string): Promise<FormClient> => signUpThroughForm(web, username, {password: PASSWORD, address})

/** The browser is logged in as this client from now on. */
async function browseAs(client: FormClient): Promise<void> {
  await page.context().clearCookies()
  await page.context().addCookies([{name: 'shing_session', value: client.cookie('shing_session')!, url: web}])
}

/** The pop-out chat, connected and ready to write. */
async function openChat(): Promise<void> {
  await page.goto(`${web}/c/${CHANNEL}/chat`)
  await page.locator('#chat-form').waitFor({state: 'visible'})
}

async function say(text: string): Promise<void> {
  await page.locator('#chat-input').fill(text)
  await page.locator('#chat-input').press('Enter')
}

const chatStatus = async (expected: RegExp): Promise<string> => {
  await page.waitForFunction((source) => new RegExp(source).test(document.getElementById('chat-status')?.textContent ?? ''), expected.source)
  return (await page.locator('#chat-status').textContent()) ?? ''
}

const notice = async (): Promise<string> => (await page.locator('.notice.ok[role=status]').textContent()) ?? ''

/** The log as the page shows it: who, what, whom, details (newest first). */
const logRows = (): Promise<string[][]> =>
  page.locator('table.chat-log-table tbody tr').evaluateAll((rows) => rows.map((row) => [...(row as HTMLTableRowElement).cells].slice(1).map((cell) => cell.textContent ?? '')))

const look = async (name: string): Promise<void> => {
  await page.setViewportSize({width: 1280, height: 800})
  await page.goto(`${web}${PAGE}`)
  await screenshot(page, name)
  await page.setViewportSize({width: 390, height: 844})
  await page.reload()
  await screenshot(page, `${name}-phone`)
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name} on a phone`).toBeLessThanOrEqual(390)
  await page.setViewportSize({width: 1280, height: 800})
}

describe('who reaches the page', () => {
  it('a stranger gets 404 (and cannot post to it); a visitor is sent to log in; the owner finds it from the dashboard', async () => {
    const refused = await stranger.get(PAGE)
    expect(refused.status).toBe(404)
    expect(refused.text).toContain('You moderate no channel by that name.')
    const token = csrfToken((await stranger.get('/dashboard')).text)
    expect((await stranger.post(`${PAGE}/settings`, {_csrf: token, slowModeSeconds: '5', minAccountAgeMinutes: '0', bannedTerms: ''})).status).toBe(404)
    expect((await stranger.post(`${PAGE}/moderators`, {_csrf: token, username: 'passer-by', permissions: 'ban'})).status).toBe(404)
    expect(await new FormClient(web).get(PAGE)).toMatchObject({status: 303, location: `/login?next=${encodeURIComponent(PAGE)}`})
    expect((await owner.get('/c/no-such-channel/moderation')).status).toBe(404)
    expect((await owner.get(`/dashboard/c/${CHANNEL}`)).text).toContain(`<a href="${PAGE}">Chat moderation</a>`)
    expect(await site.mongoClient.db('shing').collection<{_id: string}>('chat_settings').findOne({_id: CHANNEL})).toBeNull()
  })
})

describe('chat settings', () => {
  it('the owner saves slow mode and banned terms; after a reload the page shows them; a bad value is refused beside its field', async () => {
    await browseAs(owner)
    await page.goto(`${web}${PAGE}`)
    await page.locator('input[name=slowModeSeconds]').fill('30')
    await page.locator('textarea[name=bannedTerms]').fill(`spoiler\n${HOSTILE}\nSPOILER\n`)
    await page.getByRole('button', {name: 'Save settings'}).click()
    await page.waitForURL(`${web}${PAGE}?done=settings#settings`)
    expect(await notice()).toBe('Saved: the chat follows these settings now.')
    await page.reload()
    expect(await page.locator('input[name=slowModeSeconds]').inputValue()).toBe('30')
    expect(await page.locator('textarea[name=bannedTerms]').inputValue()).toBe(`spoiler\n${HOSTILE}`)
    expect(await page.locator('input[name=linksAllowed]').isChecked()).toBe(true)

    await page.locator('input[name=slowModeSeconds]').fill('99999')
    await page.locator('input[name=minAccountAgeMinutes]').fill('-5')
    await page.getByRole('button', {name: 'Save settings'}).click()
    await page.locator('#slowModeSeconds-error').waitFor()
    expect(await page.locator('#slowModeSeconds-error').textContent()).toBe('Enter a whole number of seconds from 0 (off) to 3600.')
    expect(await page.locator('#minAccountAgeMinutes-error').textContent()).toBe('Enter a whole number of minutes from 0 (any account) to 525600 (365 days).')
    expect(await page.locator('input[name=slowModeSeconds]').inputValue()).toBe('99999')
    await screenshot(page, 'chat-moderation-refused')
    await page.goto(`${web}${PAGE}`)
    expect(await page.locator('input[name=slowModeSeconds]').inputValue()).toBe('30')
    expect(dialogs).toEqual([])
  })

  it('in the chat, a message with a banned term is refused (and stays in the box); slow mode holds the next one back', async () => {
    await browseAs(chatter)
    await openChat()
    await say('no SPOILER please')
    expect(await chatStatus(/term/)).toBe('That message contains a term this channel does not allow.')
    expect(await page.locator('#chat-input').inputValue()).toBe('no SPOILER please')
    await say('hello everyone')
    await page.locator('#chat-log li', {hasText: 'hello everyone'}).waitFor()
    await say('me again')
    expect(await chatStatus(/Slow mode/)).toMatch(/^Slow mode: wait (2\d|30) seconds before your next message\.$/)
  })
})

describe('bans and moderators', () => {
  it('the owner deletes a message and bans someone in the chat; the page lists the ban', async () => {
    await browseAs(owner)
    await openChat()
    await page.locator('summary[aria-label="Moderate chatter-one"]').first().click()
    await page.getByRole('button', {name: 'Delete message'}).click()
    expect(await chatStatus(/Done/)).toBe('Done.')
    await say('/ban loud-troll')
    await waitFor('the ban on the page', async () => (await owner.get(PAGE)).text.includes('<td class="nowrap">loud-troll</td>'), {timeoutMs: 10_000, intervalMs: 250})
    await page.goto(`${web}${PAGE}`)
    const row = page.locator('table.bans tbody tr')
    expect(await row.count()).toBe(1)
    expect(await row.locator('td').first().textContent()).toBe('loud-troll')
    expect(await row.locator('td[data-label="Banned by"]').textContent()).toBe('room-owner')
    expect(await row.getByRole('button', {name: 'Unban loud-troll'}).count()).toBe(1)
  })

  it('adding a moderator: an unknown (hostile) name and the owner are refused as text; one who may only delete is added', async () => {
    await page.goto(`${web}${PAGE}`)
    await page.locator('input[name=username]').fill(HOSTILE)
    await page.getByRole('button', {name: 'Add moderator'}).click()
    await page.locator('#username-error').waitFor()
    expect(await page.locator('#username-error').textContent()).toBe(`There is no account called “${HOSTILE}”: check the spelling.`)
    expect(await page.locator('input[name=username]').inputValue()).toBe(HOSTILE)
    await page.locator('input[name=username]').fill('Room-Owner')
    await page.getByRole('button', {name: 'Add moderator'}).click()
    await page.waitForFunction(() => document.getElementById('username-error')?.textContent?.includes('owns this channel') === true)
    await page.locator('input[name=username]').fill('room-helper')
    // The form starts with delete and time-out ticked.
    expect(await page.getByRole('checkbox', {name: 'Time people out', exact: true}).isChecked()).toBe(true)
    await page.getByRole('checkbox', {name: 'Time people out', exact: true}).uncheck()
    await page.getByRole('button', {name: 'Add moderator'}).click()
    await page.waitForURL(`${web}${PAGE}?done=moderator-added#moderators`)
    expect(await notice()).toBe('The moderator is added: they can act in the chat now.')
    const ticked = await page.locator('table.moderators tbody tr').evaluateAll((rows) => rows.map((row) => [row.querySelector('th')?.firstChild?.textContent, ...[...row.querySelectorAll<HTMLInputElement>('input[type=checkbox]')].map((box) => (box.checked ? box.value : '-'))]))
    expect(ticked).toEqual([['room-helper', 'delete', '-', '-', '-']])
    expect(dialogs).toEqual([])
  })

  it('that moderator sees the log and the bans, but not the settings, the moderators or Unban, and may not post them', async () => {
    const html = (await helper.get(PAGE)).text
    expect(html).toContain('<h2 id="log">Moderation log</h2>')
    expect(html).toContain('<h2 id="bans">Banned accounts</h2>')
    expect(html).toContain('<td class="nowrap">loud-troll</td>')
    expect(html).toContain('You are a moderator here: you may delete messages.')
    expect(html).not.toContain('name="slowModeSeconds"')
    expect(html).not.toContain('id="moderators"')
    expect(html).not.toContain('Unban')
    // The banned term is the owner's business, but the log says what changed, as text.
    expect(html).toContain('banned terms added: spoiler, &lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).not.toContain(HOSTILE)
    const trollId = /bans\/([0-9a-f]{24})\/unban/.exec((await owner.get(PAGE)).text)?.[1]
    expect(trollId).toBeDefined()
    const token = csrfToken(html)
    const settings = await helper.post(`${PAGE}/settings`, {_csrf: token, slowModeSeconds: '0', minAccountAgeMinutes: '0', bannedTerms: '', linksAllowed: '1'})
    expect(settings.status).toBe(403)
    expect(settings.text).toContain('You may not change this chat&#39;s settings.')
    expect((await helper.post(`${PAGE}/moderators`, {_csrf: token, username: 'passer-by', permissions: 'ban'})).status).toBe(403)
    expect((await helper.post(`${PAGE}/bans/${trollId}/unban`, {_csrf: token})).status).toBe(403)
    expect((await owner.get(PAGE)).text).toContain('<td class="nowrap">loud-troll</td>')

    await browseAs(helper)
    await look('chat-moderation-moderator')
  })

  it('allowed to ban, the moderator unbans; the one unbanned can write again; the log names who did what', async () => {
    await browseAs(owner)
    await page.goto(`${web}${PAGE}`)
    await page.getByRole('checkbox', {name: 'Ban and unban (room-helper)'}).check()
    await page.getByRole('button', {name: 'Save what room-helper may do'}).click()
    await page.waitForURL(`${web}${PAGE}?done=moderator-saved#moderators`)

    await browseAs(helper)
    await page.goto(`${web}${PAGE}`)
    expect(await page.locator('form.chat-settings').count()).toBe(0)
    await page.getByRole('button', {name: 'Unban loud-troll'}).click()
    await page.waitForURL(`${web}${PAGE}?done=unbanned#bans`)
    expect(await notice()).toBe('Unbanned: they can write in the chat again.')
    expect(await page.locator('table.bans').count()).toBe(0)
    expect(await page.getByText('Nobody is banned from this chat.').isVisible()).toBe(true)
    expect(await logRows()).toEqual([
      ['room-helper', 'Unbanned', 'loud-troll', ''],
      ['room-owner', 'Changed what a moderator may do', 'room-helper', 'delete messages, ban and unban'],
      ['room-owner', 'Made a moderator', 'room-helper', 'delete messages'],
      ['room-owner', 'Banned', 'loud-troll', '0 messages removed'],
      ['room-owner', 'Deleted a message', 'chatter-one', 'hello everyone'],
      ['room-owner', 'Changed the chat settings', '', `slow mode 30 seconds; banned terms added: spoiler, ${HOSTILE}`],
    ])

    await browseAs(troll)
    await openChat()
    expect(await page.locator('#chat-cannot').isHidden()).toBe(true)
  })

  it('the site staff see everything; the owner removes the moderator, who then gets 404', async () => {
    const html = (await staff.get(PAGE)).text
    expect(html).toContain('<h2 id="moderators">Moderators</h2>')
    expect(html).toContain('name="slowModeSeconds"')
    expect(html).toContain('<code>/ban name</code>. Unbanning also ends a time-out.')

    await browseAs(owner)
    await look('chat-moderation-owner')
    await page.getByRole('button', {name: 'Remove room-helper as a moderator'}).click()
    await page.waitForURL(`${web}${PAGE}?done=moderator-removed#moderators`)
    expect(await page.locator('table.moderators').count()).toBe(0)
    expect((await logRows())[0]).toEqual(['room-owner', 'Removed a moderator', 'room-helper', ''])
    expect((await helper.get(PAGE)).status).toBe(404)
    expect(dialogs).toEqual([])
  })
})

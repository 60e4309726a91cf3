import {describe, expect, it} from 'vitest'

import {messageRefusal, normalizeMessage, writerRefusal} from '../../../../appliance/chat/rules.js'
import {chatSettingsSchema, DEFAULT_CHAT_SETTINGS, type ChatSettings} from '../../../../appliance/contract/index.js'

const settings = (change: Partial<ChatSettings> = {}): ChatSettings => ({...DEFAULT_CHAT_SETTINGS, ...change})

describe('what a channel lets through', () => {
  it('refuses nothing ordinary, empty text, and more than 500 characters (counted as people count them)', () => {
    expect(messageRefusal('hello there 👋', settings())).toBeUndefined()
    expect(messageRefusal('', settings())).toBe('Write something first.')
    expect(messageRefusal('😀'.repeat(500), settings())).toBeUndefined()
    expect(messageRefusal('a'.repeat(501), settings())).toBe('A message is at most 500 characters.')
  })

  it('refuses links where the channel does not allow them, in the forms people type', () => {
    const noLinks = settings({linksAllowed: false})
    for (const text of ['see https://example.org', 'www.example.org/x', 'go to spam-site.com now', 'HTTP://EXAMPLE.ORG']) expect(messageRefusal(text, noLinks), text).toBe('Links are not allowed in this chat.')
    for (const text of ['version 1.2.3', 'e.g. this', 'ok.']) expect(messageRefusal(text, noLinks), text).toBeUndefined()
    expect(messageRefusal('see https://example.org', settings())).toBeUndefined()
  })

  it('in emote-only mode lets emoji through and nothing else', () => {
    const emoteOnly = settings({emoteOnly: true})
    expect(messageRefusal('😂 👍🏽 ❤️', emoteOnly)).toBeUndefined()
    expect(messageRefusal('👨‍👩‍👧', emoteOnly)).toBeUndefined()
    expect(messageRefusal('lol 😂', emoteOnly)).toMatch(/emote-only/)
  })

  it('refuses banned words on their own, without regard to case, and patterns with *', () => {
    const banned = settings({bannedTerms: ['spam', 'free*coins', 'a.b']})
    expect(messageRefusal('no SPAM here', banned)).toMatch(/does not allow/)
    expect(messageRefusal('I am a spammer', banned)).toBeUndefined()
    expect(messageRefusal('get FREE-bit-COINS today', banned)).toMatch(/does not allow/)
    expect(messageRefusal('freecoins!', banned)).toMatch(/does not allow/)
    // A pattern stands for one word.
    expect(messageRefusal('free stuff, no coins', banned)).toBeUndefined()
    // Punctuation in a term is literal, not a pattern.
    expect(messageRefusal('axb', banned)).toBeUndefined()
    expect(messageRefusal('a.b', banned)).toMatch(/does not allow/)
  })

  it('a term that would match nearly everything is not accepted', () => {
    expect(chatSettingsSchema.safeParse({bannedTerms: ['*']}).success).toBe(false)
    expect(chatSettingsSchema.safeParse({bannedTerms: ['a*']}).success).toBe(false)
    expect(chatSettingsSchema.safeParse({bannedTerms: ['ab*']}).success).toBe(true)
  })

  it('a hostile pattern cannot make the check slow', () => {
    const hostile = settings({bannedTerms: ['*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(99) + 'b']})
    const started = performance.now()
    expect(messageRefusal('a'.repeat(500), hostile)).toBeUndefined()
    expect(performance.now() - started).toBeLessThan(200)
  })
})

describe('who may write', () => {
  const now = Date.parse('2026-12-06T12:00:00Z')
  const young = {createdAt: new Date(now - 5 * 60_000), emailVerified: false}
  it('an account younger than the minimum age waits, and is told how long', () => {
    expect(writerRefusal(young, settings({minAccountAgeMinutes: 60}), {now, siteMails: true})).toBe('This chat is for accounts older than 1 hour: you can write in 55 minutes.')
    expect(writerRefusal(young, settings({minAccountAgeMinutes: 5}), {now, siteMails: true})).toBeUndefined()
  })
  it('a followers-only chat is for those who follow', () => {
    expect(writerRefusal(young, settings({followersOnly: true}), {now, siteMails: true})).toMatch(/follow the channel to write/)
    expect(writerRefusal({...young, follows: true}, settings({followersOnly: true}), {now, siteMails: true})).toBeUndefined()
  })
  it('verified e-mail only applies where the site sends mail', () => {
    expect(writerRefusal(young, settings({verifiedEmailOnly: true}), {now, siteMails: true})).toMatch(/confirm yours/)
    expect(writerRefusal(young, settings({verifiedEmailOnly: true}), {now, siteMails: false})).toBeUndefined()
    expect(writerRefusal({...young, emailVerified: true}, settings({verifiedEmailOnly: true}), {now, siteMails: true})).toBeUndefined()
  })
})

describe('what reaches others', () => {
  it('strips control characters and the overrides that turn text around; folds blank lines', () => {
    expect(normalizeMessage('  hi\u202Egnp.exe\u0007  ')).toBe('higpn.exe'.replace('gpn', 'gnp'))
    expect(normalizeMessage('a\n\n\n\n\nb')).toBe('a\n\nb')
  })
})

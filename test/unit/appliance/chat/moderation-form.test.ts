import {describe, expect, it} from 'vitest'

import {parseSettingsForm, settingsChanges} from '../../../../appliance/chat/moderation-routes.js'
import {DEFAULT_CHAT_SETTINGS} from '../../../../appliance/contract/index.js'

const form = (change: Partial<Parameters<typeof parseSettingsForm>[0]> = {}): Parameters<typeof parseSettingsForm>[0] => ({
  slowModeSeconds: '0',
  minAccountAgeMinutes: '0',
  followersOnly: false,
  verifiedEmailOnly: false,
  linksAllowed: true,
  emoteOnly: false,
  bannedTerms: '',
  ...change,
})

describe('the chat settings form', () => {
  it('takes what the schema takes: blank numbers are off, terms one per line without repeats', () => {
    const parsed = parseSettingsForm(form({slowModeSeconds: '', bannedTerms: 'Spoiler\nspoiler\n\nfree*coins\n'}))
    expect(parsed).toEqual({settings: {...DEFAULT_CHAT_SETTINGS, bannedTerms: ['Spoiler', 'free*coins']}})
  })

  it('says beside each field what to fix', () => {
    const parsed = parseSettingsForm(form({slowModeSeconds: 'soon', bannedTerms: `*\n${'x'.repeat(101)}`}))
    expect(parsed).toEqual({errors: {slowModeSeconds: expect.stringMatching(/whole number of seconds/), bannedTerms: '“*” would refuse nearly every message: a term needs at least 2 characters besides *.'}})
    expect(parseSettingsForm(form({bannedTerms: 'x'.repeat(101)}))).toEqual({errors: {bannedTerms: expect.stringMatching(/is longer than 100 characters/)}})
  })

  it('logs what a save changed, in words', () => {
    expect(settingsChanges(DEFAULT_CHAT_SETTINGS, {...DEFAULT_CHAT_SETTINGS, slowModeSeconds: 30, followersOnly: true, bannedTerms: ['spoiler']})).toBe('slow mode 30 seconds; followers only; banned terms added: spoiler')
    expect(settingsChanges(DEFAULT_CHAT_SETTINGS, DEFAULT_CHAT_SETTINGS)).toBeUndefined()
  })
})

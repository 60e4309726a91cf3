/** Who a chat message notifies, and how old a notification reads on its page. */
import {describe, expect, it} from 'vitest'

import {mentionedUsernames, MENTIONS_PER_MESSAGE} from '../../../../appliance/community/chat-notifications.js'
import {ago} from '../../../../appliance/community/notification-pages.js'

describe('mentionedUsernames', () => {
  it('finds each @name once, leaves out the sender (any case) and what is not a username', () => {
    expect(mentionedUsernames('hi @Bea and @bea, @nova says @ab and mail@example.org', 'NOVA')).toEqual(['Bea'])
    expect(mentionedUsernames('@cal-9 first, then (@dee_x).', 'bea')).toEqual(['cal-9', 'dee_x'])
  })

  it('notifies at most a few per message', () => {
    expect(mentionedUsernames('@one1 @two2 @three @four @five', 'x')).toHaveLength(MENTIONS_PER_MESSAGE)
  })
})

describe('ago', () => {
  const now = new Date('2026-12-06T12:00:00Z')
  it('reads short on a phone, then as a date', () => {
    expect(ago(new Date('2026-12-06T11:59:30Z'), now)).toBe('just now')
    expect(ago(new Date('2026-12-06T11:55:00Z'), now)).toBe('5 min ago')
    expect(ago(new Date('2026-12-06T09:00:00Z'), now)).toBe('3 h ago')
    expect(ago(new Date('2026-12-05T12:00:00Z'), now)).toBe('1 day ago')
    expect(ago(new Date('2026-11-01T12:00:00Z'), now)).toBe('2026-11-01')
  })
})

import {describe, expect, it} from 'vitest'

import {mayActAgainst, standingOf, type ChatRoom} from '../../../../appliance/chat/rooms.js'
import {DEFAULT_CHAT_SETTINGS} from '../../../../appliance/contract/index.js'

const room: ChatRoom = {channel: 'owls', ownerId: 'owner', settings: DEFAULT_CHAT_SETTINGS, moderators: new Map([['mod', ['delete']], ['mod2', ['ban', 'timeout']]])}
const member = (id: string, role: 'user' | 'moderator' | 'admin' = 'user') => ({id, role})

describe('who may do what in a chat', () => {
  it('the owner and site staff may do everything; a moderator what the owner chose; a viewer nothing', () => {
    expect(standingOf(room, member('owner'))).toEqual({badge: 'owner', permissions: ['delete', 'timeout', 'ban', 'settings']})
    expect(standingOf(room, member('someone', 'admin')).permissions).toEqual(['delete', 'timeout', 'ban', 'settings'])
    expect(standingOf(room, member('someone', 'moderator')).badge).toBe('staff')
    expect(standingOf(room, member('mod'))).toEqual({badge: 'moderator', permissions: ['delete']})
    expect(standingOf(room, member('viewer'))).toEqual({permissions: []})
  })

  it('nobody acts against the owner; moderators not against each other or staff; nobody against themselves', () => {
    expect(mayActAgainst(room, member('admin', 'admin'), member('owner'))).toMatch(/owner/)
    expect(mayActAgainst(room, member('mod'), member('owner'))).toMatch(/owner/)
    expect(mayActAgainst(room, member('mod'), member('mod2'))).toMatch(/another moderator/)
    expect(mayActAgainst(room, member('mod'), member('staff', 'moderator'))).toMatch(/another moderator/)
    expect(mayActAgainst(room, member('mod'), member('mod'))).toMatch(/yourself/)
    expect(mayActAgainst(room, member('owner'), member('mod'))).toBeUndefined()
    expect(mayActAgainst(room, member('mod'), member('viewer'))).toBeUndefined()
  })
})

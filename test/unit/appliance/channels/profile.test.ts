import {describe, expect, it} from 'vitest'

import {literalPattern} from '../../../../appliance/channels/channels.js'
import {parseProfile, splitTags} from '../../../../appliance/channels/profile.js'

const empty = {description: '', category: '', tags: '', language: '', mature: false, realtime: false}

describe('a channel profile as typed', () => {
  it('keeps line breaks, drops other control characters, and leaves out what is empty', () => {
    expect(parseProfile({...empty, description: '  one\r\ntwo\rthree\u0000\u001b[31m  '})).toEqual({profile: {description: 'one\ntwo\nthree[31m'}})
    expect(parseProfile(empty)).toEqual({profile: {}})
    expect(parseProfile({description: 'hi', category: 'music', tags: 'a', language: 'ja', mature: true, realtime: true})).toEqual({profile: {description: 'hi', category: 'music', tags: ['a'], language: 'ja', mature: true, realtime: true}})
  })

  it('reports every field to fix at once', () => {
    expect(parseProfile({description: 'x'.repeat(2001), category: 'Music', tags: 'ok, not_ok', language: 'english', mature: false, realtime: false}).errors).toEqual({
      description: 'Keep the description to 2000 characters (it has 2001).',
      category: 'Choose a category from the list.',
      tags: '"not_ok" is not a tag: use 1-24 letters, digits or -.',
      language: 'Choose a language from the list.',
    })
    expect(parseProfile({...empty, tags: 'one two three four five six'}).errors).toEqual({tags: 'Up to 5 tags (you gave 6).'})
    expect(parseProfile({...empty, tags: 'x'.repeat(25)}).errors?.tags).toMatch(/is not a tag/)
  })

  it('tags: commas or spaces between them, a leading # dropped, lower-cased, each once, letters of any script', () => {
    expect(splitTags(' #Chill,late-night  RADIO, chill,, ')).toEqual(['chill', 'late-night', 'radio'])
    expect(parseProfile({...empty, tags: 'Ελληνικά, 日本語, हिन्दी'}).profile?.tags).toEqual(['ελληνικά', '日本語', 'हिन्दी'])
  })
})

describe('search input', () => {
  it('matches literally as a MongoDB regular expression', () => {
    const pattern = new RegExp(literalPattern('a.b*(c)?[d]\\e$^|{2}'))
    expect(pattern.test('xa.b*(c)?[d]\\e$^|{2}y')).toBe(true)
    expect(pattern.test('aXbbbc')).toBe(false)
  })
})

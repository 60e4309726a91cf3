/** The schedule's pure parts: the dashboard form read into an entry, and the calendar feed's RFC 5545 text (parsed back by ical.js). */
import ICAL from 'ical.js'
import {ObjectId} from 'mongodb'
import {describe, expect, it} from 'vitest'

import {parseScheduleForm, type ScheduleDoc} from '../../../../appliance/community/schedule.js'
import {foldLine, icsText, scheduleCalendar} from '../../../../appliance/community/schedule-ics.js'

const now = new Date('2027-03-01T12:00:00Z')

describe('the schedule form', () => {
  it('takes the instant the browser converted to UTC, to the second', () => {
    const parsed = parseScheduleForm({title: '  Speedrun   night ', category: 'gaming', local: '2027-03-02T21:30', utc: '2027-03-02T20:30:00.250Z'}, now)
    expect(parsed.input).toEqual({title: 'Speedrun night', category: 'gaming', startsAt: new Date('2027-03-02T20:30:00Z')})
  })

  it('reads the local field as UTC when no script converted it', () => {
    expect(parseScheduleForm({title: 'x', category: '', local: '2027-03-02T21:30', utc: ''}, now).input?.startsAt).toEqual(new Date('2027-03-02T21:30:00Z'))
  })

  it('refuses a past time, one more than a year ahead, an empty or long title, an unknown category', () => {
    expect(parseScheduleForm({title: 'x', category: '', local: '', utc: '2027-03-01T11:59:00Z'}, now).errors).toEqual({startsAt: 'That time has passed: give one in the future.'})
    expect(parseScheduleForm({title: 'x', category: '', local: '', utc: '2028-03-10T00:00:00Z'}, now).errors).toEqual({startsAt: 'At most a year ahead.'})
    expect(parseScheduleForm({title: ' ', category: 'nope', local: 'soon', utc: ''}, now).errors).toEqual({
      title: 'Say what the broadcast is about.',
      category: 'Choose a category from the list.',
      startsAt: 'Give the date and time it starts.',
    })
    expect(parseScheduleForm({title: 'a'.repeat(141), category: '', local: '2027-03-02T21:30', utc: ''}, now).errors?.title).toBe('At most 140 characters.')
  })
})

describe('the calendar feed', () => {
  it('escapes TEXT values and folds long lines at 75 octets without splitting a character', () => {
    expect(icsText('a;b,c\\d\ne')).toBe('a\\;b\\,c\\\\d\\ne')
    const folded = foldLine(`SUMMARY:${'é'.repeat(60)}`)
    for (const line of folded.split('\r\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(75)
    expect(folded.split('\r\n').map((l, i) => (i === 0 ? l : l.slice(1))).join('')).toBe(`SUMMARY:${'é'.repeat(60)}`)
  })

  it('is a calendar ical.js reads back: one event per entry, its UID, start in UTC, title and URL', () => {
    const id = new ObjectId()
    const entry: ScheduleDoc = {_id: id, channel: 'night-owls', title: 'Q&A; tips, "tricks" and a very long title that needs folding across lines ✓', category: 'music', startsAt: new Date('2027-03-02T20:30:00Z'), createdAt: now, updatedAt: now}
    const text = scheduleCalendar([entry], {channel: 'night-owls', publicUrl: 'https://live.example.org', host: 'live.example.org', siteName: 'Example'})
    expect(text.endsWith('\r\n')).toBe(true)
    const calendar = new ICAL.Component(ICAL.parse(text))
    const [vevent] = calendar.getAllSubcomponents('vevent')
    const event = new ICAL.Event(vevent)
    expect(event.uid).toBe(`${id.toHexString()}@live.example.org`)
    expect(event.summary).toBe(`${entry.title} (night-owls)`)
    expect(event.startDate.toJSDate().toISOString()).toBe('2027-03-02T20:30:00.000Z')
    expect(event.startDate.zone?.tzid).toBe('UTC')
    expect(vevent!.getFirstPropertyValue('url')).toBe('https://live.example.org/c/night-owls')
  })
})

/**
 * A channel's schedule as an iCalendar feed (RFC 5545): /c/<channel>/schedule.ics, which calendar
 * apps subscribe to. What the feed needs of the RFC fits here: text escaping (3.3.11), lines of at
 * most 75 octets folded with CRLF + space (3.1), times in UTC (3.3.5 form 2).
 */
import {CHANNEL_CATEGORIES} from '../contract/index.js'
import type {ScheduleDoc} from './schedule.js'

/** TEXT values: backslash, semicolon, comma and line breaks escaped. */
export const icsText = (value: string): string => value.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r\n|\r|\n/g, '\\n')

/** 2027-01-05T20:30:00.000Z → 20270105T203000Z */
export const icsUtc = (date: Date): string => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')

/** A content line folded at 75 octets (never inside a UTF-8 character), continuation lines starting with a space. */
export function foldLine(line: string): string {
  const parts: string[] = []
  let current = ''
  let octets = 0
  for (const char of line) {
    const size = Buffer.byteLength(char)
    // The first line holds 75 octets; a continuation line 74 after its leading space.
    if (octets + size > (parts.length === 0 ? 75 : 74)) {
      parts.push(current)
      current = ''
      octets = 0
    }
    current += char
    octets += size
  }
  parts.push(current)
  return parts.join('\r\n ')
}

export interface CalendarOptions {
  channel: string
  /** The site's public URL (no trailing slash): events link to the channel there. */
  publicUrl: string
  /** The site's host name: the domain part of each event's UID. */
  host: string
  siteName: string
}

export function scheduleCalendar(entries: readonly ScheduleDoc[], options: CalendarOptions): string {
  const url = `${options.publicUrl}/c/${encodeURIComponent(options.channel)}`
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    `PRODID:-//Shing//${icsText(options.host)} schedule//EN`,
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    `X-WR-CALNAME:${icsText(`${options.channel} · ${options.siteName}`)}`,
    // Calendar apps ask again about this often.
    'REFRESH-INTERVAL;VALUE=DURATION:PT1H',
    'X-PUBLISHED-TTL:PT1H',
  ]
  for (const entry of entries) {
    const category = entry.category === undefined ? undefined : CHANNEL_CATEGORIES[entry.category]
    lines.push(
      'BEGIN:VEVENT',
      // The entry's id: the same event however often it is edited, across feeds and sites.
      `UID:${entry._id.toHexString()}@${icsText(options.host)}`,
      `DTSTAMP:${icsUtc(entry.updatedAt)}`,
      `LAST-MODIFIED:${icsUtc(entry.updatedAt)}`,
      `CREATED:${icsUtc(entry.createdAt)}`,
      `DTSTART:${icsUtc(entry.startsAt)}`,
      `SUMMARY:${icsText(`${entry.title} (${options.channel})`)}`,
      `DESCRIPTION:${icsText(`${entry.title}\nWatch at ${url}`)}`,
      `URL:${url}`,
      ...(category === undefined ? [] : [`CATEGORIES:${icsText(category)}`]),
      'END:VEVENT',
    )
  }
  lines.push('END:VCALENDAR')
  return `${lines.map(foldLine).join('\r\n')}\r\n`
}

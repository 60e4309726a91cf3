/**
 * What a channel's chat settings allow, as pure functions: whether a message may be delivered
 * (length, links, emote-only, banned terms) and whether an account may write at all (its age, its
 * e-mail address, whether it follows). Time-outs, bans, slow mode and flood control need Redis or
 * MongoDB: see flood.ts and store.ts.
 */
import {CHAT_MESSAGE_MAX, type ChatSettings} from '../contract/index.js'

/** A link as people type them: a scheme, www., or a name with a common top-level domain. */
const LINK = /\b(?:https?:\/\/|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|gg|tv|co|me|ly|app|dev|xyz|info|ru|de|uk|fr|link|live|stream)\b(?:\/\S*)?/i
const EMOJI_ONLY = /^(?:\p{Extended_Pictographic}|\p{Emoji_Component}|\p{Emoji_Modifier}|\u200d|\ufe0f|\s)+$/u
// Control characters (but tab and newline) and the bidirectional overrides that turn text around.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu

/** Control characters and bidirectional overrides out, runs of blank lines folded, ends trimmed. */
export function normalizeMessage(text: string): string {
  return text.replace(CONTROL, '').replace(/\n{3,}/g, '\n\n').trim()
}

export const hasLink = (text: string): boolean => LINK.test(text)

/**
 * `*` in a banned term against one word (the usual two-pointer wildcard match, at most the
 * product of their lengths): a pattern typed by a streamer can never make the check slow, as a
 * regular expression with several open-ended repeats can (backtracking: minutes on 500 characters).
 */
export function globMatch(word: string, pattern: string): boolean {
  let w = 0
  let p = 0
  let star = -1
  let resume = 0
  while (w < word.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === word[w]) {
      w++
      p++
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++
      resume = w
    } else if (star !== -1) {
      p = star + 1
      w = ++resume
    } else {
      return false
    }
  }
  while (pattern[p] === '*') p++
  return p === pattern.length
}

/** A term without `*`: the word or phrase on its own (`spam` not in `spammer`), literally. */
const literalPattern = (term: string): RegExp => new RegExp(`(?<![\\p{L}\\p{N}])${term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'iu')

/** A message's words, lower-cased, without the punctuation around them. */
const wordsOf = (text: string): string[] => text.toLowerCase().split(/\s+/u).map((w) => w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')).filter((w) => w !== '')

type BannedTerm = {kind: 'literal'; pattern: RegExp} | {kind: 'glob'; pattern: string}

/** Compiled once per settings object: a chat checks every message against them. */
const compiled = new WeakMap<readonly string[], BannedTerm[]>()
function bannedTerms(terms: readonly string[]): BannedTerm[] {
  let list = compiled.get(terms)
  if (list === undefined) {
    list = terms.map((term) => (term.includes('*') ? {kind: 'glob', pattern: term.toLowerCase()} : {kind: 'literal', pattern: literalPattern(term)}))
    compiled.set(terms, list)
  }
  return list
}

/** Whether the text holds one of the terms: a word or phrase on its own, or a word that fits a `*` pattern. */
export function containsBannedTerm(text: string, terms: readonly string[]): boolean {
  const list = bannedTerms(terms)
  if (list.length === 0) return false
  const words = list.some((t) => t.kind === 'glob') ? wordsOf(text) : []
  return list.some((term) => (term.kind === 'literal' ? term.pattern.test(text) : words.some((word) => globMatch(word, term.pattern))))
}

/** Why this text may not be delivered under these settings, or undefined when it may. */
export function messageRefusal(text: string, settings: ChatSettings): string | undefined {
  if (text.length === 0) return 'Write something first.'
  if ([...text].length > CHAT_MESSAGE_MAX) return `A message is at most ${CHAT_MESSAGE_MAX} characters.`
  if (settings.emoteOnly && !EMOJI_ONLY.test(text)) return 'This chat is in emote-only mode: emoji only for now.'
  if (!settings.linksAllowed && hasLink(text)) return 'Links are not allowed in this chat.'
  if (containsBannedTerm(text, settings.bannedTerms)) return 'That message contains a term this channel does not allow.'
  return undefined
}

/** What the chat needs to know of an author. */
export interface Author {
  createdAt: Date
  emailVerified: boolean
  /** Follows the channel (asked only where the chat is followers-only). */
  follows?: boolean
}

/** Why this account may not write here at all (the chat shows it instead of the input), or undefined. */
export function writerRefusal(author: Author, settings: ChatSettings, options: {now: number; siteMails: boolean}): string | undefined {
  if (settings.followersOnly && author.follows !== true) return 'This chat is for the channel\'s followers: follow the channel to write.'
  if (settings.verifiedEmailOnly && options.siteMails && !author.emailVerified) return 'This chat is for accounts whose e-mail address is confirmed: confirm yours from your account page.'
  const ageMinutes = (options.now - author.createdAt.getTime()) / 60_000
  if (ageMinutes < settings.minAccountAgeMinutes) {
    const wait = Math.ceil(settings.minAccountAgeMinutes - ageMinutes)
    return `This chat is for accounts older than ${formatMinutes(settings.minAccountAgeMinutes)}: you can write in ${formatMinutes(wait)}.`
  }
  return undefined
}

export function formatMinutes(minutes: number): string {
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`
  if (minutes < 1440) return `${Math.round(minutes / 60)} hour${Math.round(minutes / 60) === 1 ? '' : 's'}`
  return `${Math.round(minutes / 1440)} day${Math.round(minutes / 1440) === 1 ? '' : 's'}`
}

export function formatSeconds(seconds: number): string {
  return seconds < 60 ? `${seconds} second${seconds === 1 ? '' : 's'}` : formatMinutes(Math.round(seconds / 60))
}

/**
 * A channel's profile as pages and tools agree on it: the categories a channel is filed under
 * (stored by slug, which is also its /browse/<slug> address), the languages a streamer picks
 * from, and the limits on what they type.
 */
export const CHANNEL_CATEGORIES = {
  gaming: 'Gaming',
  music: 'Music',
  talk: 'Talk',
  creative: 'Creative',
  education: 'Education',
  sports: 'Sports',
  tech: 'Tech',
  other: 'Other',
} as const satisfies Record<string, string>

export type ChannelCategory = keyof typeof CHANNEL_CATEGORIES

export const isChannelCategory = (slug: string): slug is ChannelCategory => Object.hasOwn(CHANNEL_CATEGORIES, slug)

/** ISO 639-1 codes a streamer may pick, with their names in their own language. */
export const CHANNEL_LANGUAGES = {
  ar: 'العربية',
  de: 'Deutsch',
  en: 'English',
  es: 'Español',
  fr: 'Français',
  hi: 'हिन्दी',
  it: 'Italiano',
  ja: '日本語',
  ko: '한국어',
  nl: 'Nederlands',
  pl: 'Polski',
  pt: 'Português',
  ru: 'Русский',
  sv: 'Svenska',
  tr: 'Türkçe',
  zh: '中文',
} as const satisfies Record<string, string>

export type ChannelLanguage = keyof typeof CHANNEL_LANGUAGES

export const isChannelLanguage = (code: string): code is ChannelLanguage => Object.hasOwn(CHANNEL_LANGUAGES, code)

export const DESCRIPTION_MAX_LENGTH = 2000
export const MAX_TAGS = 5
/** One tag: 1-24 of lower-case letters, digits and -. */
export const TAG_PATTERN = /^[\p{Ll}\p{Lo}\p{M}\p{Nd}-]{1,24}$/u

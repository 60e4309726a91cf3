/**
 * A channel's profile as its streamer types it on the dashboard (description, category, tags,
 * language, mature content, real-time playback), checked field by field: every problem is reported at once, beside
 * its field.
 */
import {
  DESCRIPTION_MAX_LENGTH,
  isChannelCategory,
  isChannelLanguage,
  MAX_TAGS,
  TAG_PATTERN,
  type ChannelCategory,
  type ChannelLanguage,
} from '../contract/index.js'

export interface ChannelProfile {
  description?: string
  category?: ChannelCategory
  tags?: string[]
  language?: ChannelLanguage
  mature?: boolean
  /** Real-time playback (WHEP) offered beside LL-HLS, from the next broadcast on. */
  realtime?: boolean
}

/** The form's fields as text (the checkbox: whether it was ticked). */
export interface ProfileForm {
  description: string
  category: string
  tags: string
  language: string
  mature: boolean
  realtime: boolean
}

export type ProfileErrors = Partial<Record<keyof ProfileForm, string>>

/** Tags as typed: separated by commas or spaces, a leading # dropped, lower-cased, each once. */
export const splitTags = (text: string): string[] => [...new Set(text.split(/[\s,]+/u).map((t) => t.replace(/^#+/u, '').toLowerCase()).filter((t) => t !== ''))]

/** The form as a profile, or what to fix in it. */
export function parseProfile(form: ProfileForm): {profile: ChannelProfile; errors?: undefined} | {errors: ProfileErrors; profile?: undefined} {
  const errors: ProfileErrors = {}
  // Line breaks kept (as \n); other control characters have no place in plain text.
  const description = form.description.replace(/\r\n?/gu, '\n').replace(/[^\P{Cc}\n\t]/gu, '').trim()
  if (description.length > DESCRIPTION_MAX_LENGTH) errors.description = `Keep the description to ${DESCRIPTION_MAX_LENGTH} characters (it has ${description.length}).`
  const category = form.category.trim()
  if (category !== '' && !isChannelCategory(category)) errors.category = 'Choose a category from the list.'
  const language = form.language.trim()
  if (language !== '' && !isChannelLanguage(language)) errors.language = 'Choose a language from the list.'
  const tags = splitTags(form.tags)
  const bad = tags.find((t) => !TAG_PATTERN.test(t))
  if (bad !== undefined) errors.tags = `"${bad.slice(0, 40)}" is not a tag: use 1-24 letters, digits or -.`
  else if (tags.length > MAX_TAGS) errors.tags = `Up to ${MAX_TAGS} tags (you gave ${tags.length}).`
  if (Object.keys(errors).length > 0) return {errors}
  return {
    profile: {
      ...(description === '' ? {} : {description}),
      ...(category === '' ? {} : {category: category as ChannelCategory}),
      ...(tags.length === 0 ? {} : {tags}),
      ...(language === '' ? {} : {language: language as ChannelLanguage}),
      ...(form.mature ? {mature: true} : {}),
      ...(form.realtime ? {realtime: true} : {}),
    },
  }
}

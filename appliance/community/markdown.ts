/**
 * A post's Markdown to HTML, once when it is written: markdown-it with raw HTML off and only a
 * small set of its rules on (no images, headings or tables: a post sits inside a page), then
 * sanitize-html with an allow-list as the second wall — whatever the first lets through, only
 * these tags, attributes and URL schemes reach a page. Links leave with rel="nofollow ugc noopener".
 */
import MarkdownIt from 'markdown-it'
import sanitizeHtml from 'sanitize-html'

/** The most a post may hold, in characters of Markdown. */
export const POST_MARKDOWN_MAX = 5000

const markdown = new MarkdownIt('zero', {html: false, linkify: true, breaks: true, typographer: false})
  .enable(['paragraph', 'newline', 'text', 'escape', 'backticks', 'emphasis', 'strikethrough', 'link', 'linkify', 'autolink', 'list', 'blockquote', 'code', 'fence', 'hr', 'entity'])

// A bare "www.example.com" becomes a link too; markdown-it's own check already refuses
// javascript:, vbscript:, file: and most data: URLs before sanitize-html sees them.
markdown.linkify.set({fuzzyEmail: false})

const ALLOWED: sanitizeHtml.IOptions = {
  allowedTags: ['p', 'br', 'strong', 'em', 's', 'a', 'ul', 'ol', 'li', 'blockquote', 'code', 'pre', 'hr'],
  allowedAttributes: {a: ['href', 'rel'], ol: ['start']},
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'escape',
  transformTags: {a: sanitizeHtml.simpleTransform('a', {rel: 'nofollow ugc noopener'})},
}

/** What a post's Markdown shows as: sanitized HTML, safe to put in any page as it is. */
export function renderPostMarkdown(text: string): string {
  return sanitizeHtml(markdown.render(text), ALLOWED).trim()
}

/** Why this Markdown may not be posted, or undefined when it may. */
export function postMarkdownRefusal(text: string): string | undefined {
  if (text.trim() === '') return 'Write something first.'
  if (text.length > POST_MARKDOWN_MAX) return `A post holds at most ${POST_MARKDOWN_MAX} characters (this one has ${text.length}).`
  return undefined
}

/** Control characters (but tab and newline) and bidirectional overrides out; Windows line ends folded. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu
export const normalizePostText = (text: string): string => text.replace(/\r\n?/g, '\n').replace(CONTROL, '').trim()

/** The @usernames a text names, lower-cased, each once (at most 10: a wall of mentions tells nobody). */
export function mentionsIn(text: string): string[] {
  const found = new Set<string>()
  for (const match of text.matchAll(/(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9_-]{2,29})(?![\w-])/g)) {
    found.add(match[1]!.toLowerCase())
    if (found.size === 10) break
  }
  return [...found]
}

const ENTITIES: Record<string, string> = {'&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'"}

/** A post's words as plain text (from its sanitized HTML), cut to `max` characters: for lists and notifications (escape it where shown). */
export function postExcerpt(html: string, max: number): string {
  const text = html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] ?? e)
    .replace(/\s+/g, ' ')
    .trim()
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/**
 * A channel's chat moderation page (/c/<channel>/moderation): its chat settings, its moderators,
 * the accounts banned from its chat and its moderation log, each shown to whoever may see it.
 * Every value is escaped: names, banned terms and deleted messages are shown as the text they are.
 */
import {CHAT_PERMISSION_LABELS, chatPermissions, chatSettingsSchema, type ChatPermission, type ChatSettings} from '../contract/index.js'
import {csrfField, escapeHtml, page, type FieldErrors, type PageContext} from '../web/html.js'
import {formatMinutes} from './rules.js'
import type {BanDoc, ChatLogEntry, ModeratorDoc} from './store.js'

/** The bounds the settings schema sets, for the hints (so that they cannot drift from it). */
const shape = chatSettingsSchema.shape
const terms = shape.bannedTerms.unwrap()
export const SETTINGS_BOUNDS = {
  slowModeSeconds: shape.slowModeSeconds.unwrap().maxValue ?? 0,
  minAccountAgeMinutes: shape.minAccountAgeMinutes.unwrap().maxValue ?? 0,
  // (An array tells its length limit through its JSON Schema only.)
  bannedTerms: terms.toJSONSchema().maxItems ?? 0,
  bannedTermLength: terms.element.maxLength ?? 0,
}

/** The settings form as typed (numbers as text), to show again beside what is wrong with it. */
export interface SettingsForm {
  slowModeSeconds: string
  minAccountAgeMinutes: string
  followersOnly: boolean
  verifiedEmailOnly: boolean
  linksAllowed: boolean
  emoteOnly: boolean
  /** One per line. */
  bannedTerms: string
}

export const settingsFormOf = (settings: ChatSettings): SettingsForm => ({
  slowModeSeconds: String(settings.slowModeSeconds),
  minAccountAgeMinutes: String(settings.minAccountAgeMinutes),
  followersOnly: settings.followersOnly,
  verifiedEmailOnly: settings.verifiedEmailOnly,
  linksAllowed: settings.linksAllowed,
  emoteOnly: settings.emoteOnly,
  bannedTerms: settings.bannedTerms.join('\n'),
})

export type ModerationSection = 'settings' | 'moderators' | 'bans' | 'log'

export interface ChatModerationView {
  channel: string
  /** The channel's owner or the site's staff: they choose the moderators and may do everything. */
  manager: boolean
  /** What the viewer may do in this chat. */
  permissions: readonly ChatPermission[]
  settings: SettingsForm
  moderators: readonly ModeratorDoc[]
  bans: readonly BanDoc[]
  /** Newest first. */
  log: readonly ChatLogEntry[]
  /** What was just done, shown in its section. */
  notice?: {section: ModerationSection; text: string}
  errors?: FieldErrors
  /** The add-a-moderator form as sent, to fix. */
  adding?: {username: string; permissions: readonly ChatPermission[]}
  /** A moderator's row whose change was refused, and why. */
  rowError?: {userId: string; message: string}
}

/** What each log entry's action is, in words. */
const ACTION_WORDS: Record<ChatLogEntry['action'], string> = {
  delete: 'Deleted a message',
  timeout: 'Timed out',
  ban: 'Banned',
  unban: 'Unbanned',
  settings: 'Changed the chat settings',
  'moderator.add': 'Made a moderator',
  'moderator.change': 'Changed what a moderator may do',
  'moderator.remove': 'Removed a moderator',
}

/** The default of the add-a-moderator form: what most channels want from a helper. */
const DEFAULT_GRANT: readonly ChatPermission[] = ['delete', 'timeout']

const when = (at: Date): string => `<time datetime="${at.toISOString()}">${escapeHtml(at.toISOString().slice(0, 16).replace('T', ' '))}</time>`

/** The describedby of a field: its hint, and its error when it has one. */
function described(name: string, errors: FieldErrors, hint = true): string {
  const ids = [hint ? `${name}-hint` : '', errors[name] === undefined ? '' : `${name}-error`].filter((id) => id !== '')
  return `${errors[name] === undefined ? '' : ' aria-invalid="true"'}${ids.length === 0 ? '' : ` aria-describedby="${ids.join(' ')}"`}`
}
const errorOf = (name: string, errors: FieldErrors): string => (errors[name] === undefined ? '' : `<span class="field-error" id="${name}-error">${escapeHtml(errors[name])}</span>`)
const hintOf = (name: string, text: string): string => `<span class="hint" id="${name}-hint">${text}</span>`

function noticeIn(view: ChatModerationView, section: ModerationSection): string {
  return view.notice?.section === section ? `<p class="notice ok" role="status">${escapeHtml(view.notice.text)}</p>` : ''
}

function settingsSection(context: PageContext, view: ChatModerationView, path: string): string {
  const form = view.settings
  const errors = view.errors ?? {}
  const bounds = SETTINGS_BOUNDS
  const choice = (name: 'followersOnly' | 'verifiedEmailOnly' | 'linksAllowed' | 'emoteOnly', label: string, hint: string): string =>
    `<label class="choice"><input type="checkbox" name="${name}" value="1"${form[name] ? ' checked' : ''} aria-describedby="${name}-hint"> <span>${label}<br>${hintOf(name, hint)}</span></label>`
  return `<section aria-labelledby="settings">
<h2 id="settings">Chat settings</h2>
${noticeIn(view, 'settings')}
${Object.keys(errors).some((name) => name in form) ? '<p class="notice error" role="alert">Nothing was saved: correct what is marked below.</p>' : ''}
<form class="stack narrow-form chat-settings" method="post" action="${path}/settings#settings" novalidate>
${csrfField(context.csrfToken)}
<label>Slow mode (seconds)
  <input name="slowModeSeconds" type="number" inputmode="numeric" min="0" max="${bounds.slowModeSeconds}" step="1" value="${escapeHtml(form.slowModeSeconds)}"${described('slowModeSeconds', errors)}>
  ${hintOf('slowModeSeconds', `How long each viewer waits between two messages; 0 turns slow mode off. You and your moderators are never slowed. At most ${bounds.slowModeSeconds}.`)}${errorOf('slowModeSeconds', errors)}
</label>
<label>Minimum account age (minutes)
  <input name="minAccountAgeMinutes" type="number" inputmode="numeric" min="0" max="${bounds.minAccountAgeMinutes}" step="1" value="${escapeHtml(form.minAccountAgeMinutes)}"${described('minAccountAgeMinutes', errors)}>
  ${hintOf('minAccountAgeMinutes', `Accounts younger than this can read the chat but not write in it: someone banned cannot come straight back with a new account. 0: any account. At most ${bounds.minAccountAgeMinutes} (${formatMinutes(bounds.minAccountAgeMinutes)}).`)}${errorOf('minAccountAgeMinutes', errors)}
</label>
${choice('followersOnly', 'Followers only', 'Only accounts that follow this channel can write; others read. You and your moderators can always write.')}
${choice('verifiedEmailOnly', 'Confirmed e-mail addresses only', 'Accounts that have not confirmed their e-mail address can read but not write (where this site sends e-mail).')}
${choice('linksAllowed', 'Allow links', 'Links in messages show as links. Off: a message with a link is refused.')}
${choice('emoteOnly', 'Emote-only mode', 'Viewers may send emoji only, for moments that need a quiet chat. You and your moderators can still write anything.')}
<label>Banned terms
  <textarea name="bannedTerms" rows="6" spellcheck="false" autocapitalize="none"${described('bannedTerms', errors)}>${escapeHtml(form.bannedTerms)}</textarea>
  ${hintOf('bannedTerms', `One per line, up to ${bounds.bannedTerms} of up to ${bounds.bannedTermLength} characters. A message with one of them is refused, whatever its case. A word or phrase matches on its own (<code>spam</code> does not match <code>spammer</code>); a term with <code>*</code> matches one word, <code>*</code> standing for anything in it (<code>free*coins</code> matches free-bit-coins).`)}${errorOf('bannedTerms', errors)}
</label>
<button class="primary" type="submit">Save settings</button>
</form>
</section>`
}

/** The add-a-moderator form's choices. */
const grantBoxes = (chosen: readonly ChatPermission[]): string =>
  chatPermissions.map((p) => `<label class="choice"><input type="checkbox" name="permissions" value="${p}"${chosen.includes(p) ? ' checked' : ''}> ${escapeHtml(CHAT_PERMISSION_LABELS[p])}</label>`).join('\n')

/** A moderator's row: a cell per permission, its box in the row's form; the column (on a phone, the box's label) says which, a screen reader also hears whose. */
const rowBoxes = (moderator: ModeratorDoc, form: string): string =>
  chatPermissions
    .map((p) => {
      const label = escapeHtml(CHAT_PERMISSION_LABELS[p])
      return `<td data-label="${label}"><label class="choice"><input type="checkbox" name="permissions" value="${p}"${moderator.permissions.includes(p) ? ' checked' : ''} form="${form}"><span class="visually-hidden permission-label">${label}</span><span class="visually-hidden"> (${escapeHtml(moderator.user)})</span></label></td>`
    })
    .join('')

function moderatorsSection(context: PageContext, view: ChatModerationView, path: string): string {
  const errors = view.errors ?? {}
  const adding = view.adding ?? {username: '', permissions: DEFAULT_GRANT}
  const rows = view.moderators
    .map((m) => {
      const id = `moderator-${m.userId}`
      const action = `${path}/moderators/${m.userId}`
      const rowError = view.rowError?.userId === m.userId ? `<span class="field-error" id="${id}-error" role="alert">${escapeHtml(view.rowError.message)}</span>` : ''
      return `<tr><th scope="row">${escapeHtml(m.user)}<br><span class="hint">added by ${escapeHtml(m.addedBy)}, ${when(m.at)} UTC</span></th>${rowBoxes(m, id)}<td><form id="${id}" class="row-actions" method="post" action="${action}#moderators">${csrfField(context.csrfToken)}<button class="primary" type="submit" aria-label="Save what ${escapeHtml(m.user)} may do">Save</button><button class="danger" type="submit" formaction="${action}/remove#moderators" aria-label="Remove ${escapeHtml(m.user)} as a moderator">Remove</button></form>${rowError}</td></tr>`
    })
    .join('')
  const table =
    view.moderators.length === 0
      ? '<p>No moderators yet.</p>'
      : `<div class="table-wrap"><table class="admin stacked moderators"><thead><tr><th scope="col">Moderator</th>${chatPermissions.map((p) => `<th scope="col">${escapeHtml(CHAT_PERMISSION_LABELS[p])}</th>`).join('')}<th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead><tbody>${rows}</tbody></table></div>`
  return `<section aria-labelledby="moderators">
<h2 id="moderators">Moderators</h2>
${noticeIn(view, 'moderators')}
<p class="hint">Moderators keep this channel's chat in order, each only as far as you allow. They see the banned accounts and the moderation log below, never this list.</p>
${table}
<h3 id="add-moderator">Add a moderator</h3>
<form class="stack narrow-form" method="post" action="${path}/moderators#add-moderator" novalidate>
${csrfField(context.csrfToken)}
<label>Username
  <input name="username" value="${escapeHtml(adding.username)}" required maxlength="30" autocomplete="off" autocapitalize="none" spellcheck="false"${described('username', errors)}>
  ${hintOf('username', 'The name of their account on this site.')}${errorOf('username', errors)}
</label>
<fieldset${errors.permissions === undefined ? '' : ' aria-describedby="permissions-error"'}>
<legend>They may</legend>
${grantBoxes(adding.permissions)}
${errorOf('permissions', errors)}
</fieldset>
<button class="primary" type="submit">Add moderator</button>
</form>
</section>`
}

function bansSection(context: PageContext, view: ChatModerationView, path: string): string {
  const canUnban = view.permissions.includes('ban')
  const rows = view.bans
    .map(
      (b) =>
        `<tr><td class="nowrap">${escapeHtml(b.user)}</td><td data-label="Banned by" class="nowrap">${escapeHtml(b.by)}</td><td data-label="When (UTC)">${when(b.at)}</td>${
          canUnban
            ? `<td><form method="post" action="${path}/bans/${b.userId}/unban#bans">${csrfField(context.csrfToken)}<button class="primary" type="submit" aria-label="Unban ${escapeHtml(b.user)}">Unban</button></form></td>`
            : ''
        }</tr>`,
    )
    .join('')
  const list =
    view.bans.length === 0
      ? '<p>Nobody is banned from this chat.</p>'
      : `<div class="table-wrap"><table class="admin stacked bans"><thead><tr><th scope="col">Account</th><th scope="col">Banned by</th><th scope="col">When (UTC)</th>${canUnban ? '<th scope="col"><span class="visually-hidden">Action</span></th>' : ''}</tr></thead><tbody>${rows}</tbody></table></div>`
  return `<section aria-labelledby="bans">
<h2 id="bans">Banned accounts</h2>
${noticeIn(view, 'bans')}
${list}
<p class="hint">${canUnban ? 'Ban someone from the chat itself: the ⋯ menu beside their message, or <code>/ban name</code>. Unbanning also ends a time-out.' : 'Only moderators the owner allows to ban can unban.'}</p>
</section>`
}

function logSection(view: ChatModerationView): string {
  const rows = view.log
    .map(
      (e) =>
        `<tr><td class="nowrap">${when(e.at)}</td><td data-label="Who" class="nowrap">${escapeHtml(e.actor)}</td><td data-label="Action">${escapeHtml(ACTION_WORDS[e.action])}</td><td data-label="Whom" class="nowrap">${e.target === undefined ? '' : escapeHtml(e.target)}</td><td data-label="Details" class="log-details">${e.details === undefined ? '' : escapeHtml(e.details)}</td></tr>`,
    )
    .join('')
  const list =
    view.log.length === 0
      ? '<p>Nothing yet.</p>'
      : `<div class="table-wrap"><table class="admin stacked chat-log-table"><thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Whom</th><th scope="col">Details</th></tr></thead><tbody>${rows}</tbody></table></div>`
  return `<section aria-labelledby="log">
<h2 id="log">Moderation log</h2>
<p class="hint">The latest ${view.log.length === 0 ? '' : `${view.log.length} `}actions in this chat, newest first.</p>
${list}
</section>`
}

export function chatModerationPage(context: PageContext, view: ChatModerationView): string {
  const channel = encodeURIComponent(view.channel)
  const path = `/c/${channel}/moderation`
  const mayChangeSettings = view.permissions.includes('settings')
  const sections: [ModerationSection, string][] = [
    ...(mayChangeSettings ? [['settings', 'Settings'] as [ModerationSection, string]] : []),
    ...(view.manager ? [['moderators', 'Moderators'] as [ModerationSection, string]] : []),
    ['bans', 'Banned accounts'],
    ['log', 'Log'],
  ]
  const yours = view.manager
    ? ''
    : `<p>You are a moderator here: you may ${view.permissions.length === 0 ? 'see this page only' : view.permissions.map((p) => escapeHtml(CHAT_PERMISSION_LABELS[p].toLowerCase())).join(', ')}.</p>`
  return page(context, {
    title: `${view.channel} · Chat moderation`,
    width: 'wide',
    body: `<p><a href="/c/${channel}">Back to ${escapeHtml(view.channel)}</a></p>
<h1>Chat moderation: ${escapeHtml(view.channel)}</h1>
${yours}
<nav class="admin-nav" aria-label="On this page">${sections.map(([id, label]) => `<a href="#${id}">${label}</a>`).join('')}</nav>
${mayChangeSettings ? settingsSection(context, view, path) : ''}
${view.manager ? moderatorsSection(context, view, path) : ''}
${bansSection(context, view, path)}
${logSection(view)}`,
  })
}

/** The admin area's pages: accounts (search, role, suspend, ban), live broadcasts (end now), site settings, the audit log. Every value is escaped. */
import {roles, type AccountStatus, type Role} from '../accounts/users.js'
import {csrfField, escapeHtml, page, type PageContext} from '../web/html.js'
import {CHANNELS_PER_ACCOUNT_MAX, registrationModes, RULES_MAX, SITE_TITLE_MAX, type SiteSettingsView} from '../site/settings.js'
import type {AuditEntry} from './audit.js'

export interface AdminUserRow {
  id: string
  username: string
  email: string
  role: Role
  status: AccountStatus
  createdAt: Date
  /** Two-factor log-in is on (an admin can turn it off for someone who lost their phone). */
  twoFactor: boolean
}

export interface AdminLiveRow {
  channel: string
  since: string
  owner?: string
}

/** The admin area's links; a moderator's (reports and channels) only. */
export function adminNav(context: PageContext): string {
  const links: Array<[string, string]> =
    context.viewer?.role === 'admin'
      ? [
          ['/admin', 'Accounts and broadcasts'],
          ['/admin/reports', 'Reports'],
          ['/admin/channels', 'Channels'],
          ['/admin/nodes', 'Nodes and health'],
          ['/admin/jobs', 'Jobs'],
          ['/admin/settings', 'Site settings'],
          ['/admin/audit', 'Audit log'],
        ]
      : [
          ['/admin/reports', 'Reports'],
          ['/admin/channels', 'Channels'],
        ]
  return `<nav class="admin-nav" aria-label="Admin">${links.map(([href, label]) => `<a href="${href}">${label}</a>`).join(' ')}</nav>`
}

function userRow(context: PageContext, user: AdminUserRow, self: boolean): string {
  const base = `/admin/users/${encodeURIComponent(user.id)}`
  const token = csrfField(context.csrfToken)
  const statusButtons = self
    ? '<span class="muted">you</span>'
    : (['active', 'suspended', 'banned'] as const)
        .filter((s) => s !== user.status && !(user.status === 'pending' && s === 'suspended'))
        .map((s) => {
          const label = s === 'active' ? (user.status === 'pending' ? 'Approve' : 'Reactivate') : s === 'suspended' ? 'Suspend' : 'Ban'
          return `<form method="post" action="${base}/status">${token}<input type="hidden" name="status" value="${s}"><button class="${s === 'active' ? 'primary' : 'danger'}" type="submit" aria-label="${label} ${escapeHtml(user.username)}">${label}</button></form>`
        })
        .join('') +
      (user.twoFactor
        ? `<form method="post" action="${base}/2fa-reset">${token}<button type="submit" aria-label="Turn off two-factor log-in of ${escapeHtml(user.username)}">Reset 2FA</button></form>`
        : '')
  const roleForm = self
    ? escapeHtml(user.role)
    : `<form method="post" action="${base}/role" class="inline">${token}<label class="skip" for="role-${escapeHtml(user.id)}">Role of ${escapeHtml(user.username)}</label><select id="role-${escapeHtml(user.id)}" name="role">${roles
        .map((r) => `<option value="${r}"${r === user.role ? ' selected' : ''}>${r}</option>`)
        .join('')}</select><button type="submit" class="primary">Set</button></form>`
  return `<tr><td>${escapeHtml(user.username)}</td><td>${escapeHtml(user.email)}</td><td>${roleForm}</td><td class="status-${user.status}">${user.status}</td><td>${escapeHtml(user.createdAt.toISOString().slice(0, 10))}</td><td class="actions">${statusButtons}</td></tr>`
}

export function adminPage(context: PageContext, view: {query: string; users: AdminUserRow[]; live: AdminLiveRow[]; selfId: string; notice?: string}): string {
  const token = csrfField(context.csrfToken)
  const users =
    view.users.length === 0
      ? '<p>No account matches.</p>'
      : `<div class="table-wrap"><table class="admin"><thead><tr><th scope="col">Username</th><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Since</th><th scope="col">Actions</th></tr></thead><tbody>${view.users
          .map((u) => userRow(context, u, u.id === view.selfId))
          .join('')}</tbody></table></div>`
  const live =
    view.live.length === 0
      ? '<p>Nobody is live.</p>'
      : `<ul class="channels">${view.live
          .map(
            (l) =>
              `<li><a href="/c/${encodeURIComponent(l.channel)}">${escapeHtml(l.channel)}</a> <span class="muted">since ${escapeHtml(l.since.slice(11, 16))} UTC${l.owner === undefined ? '' : ` · ${escapeHtml(l.owner)}`}</span> <form method="post" action="/admin/channels/${encodeURIComponent(l.channel)}/end" class="inline">${token}<input type="hidden" name="back" value="/admin"><button class="danger" type="submit" aria-label="End the broadcast of ${escapeHtml(l.channel)}">End broadcast</button></form></li>`,
          )
          .join('')}</ul>`
  return page(context, {
    title: 'Admin',
    width: 'wide',
    body: `<h1>Admin</h1>
${adminNav(context)}
${view.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(view.notice)}</p>`}
<h2>Live now</h2>
${live}
<h2>Accounts</h2>
<form method="get" action="/admin" class="search" role="search"><label>Find an account <input name="q" value="${escapeHtml(view.query)}" placeholder="username or e-mail, from its start" autocapitalize="none" spellcheck="false"></label><button class="primary" type="submit">Search</button></form>
${users}
<p class="hint">Suspending or banning ends the account's sessions at once, revokes its channels' stream keys and ends their broadcasts within seconds.</p>`,
  })
}

export function auditPage(context: PageContext, entries: readonly AuditEntry[]): string {
  const rows = entries
    .map(
      (e) =>
        `<tr><td><time datetime="${e.at.toISOString()}">${escapeHtml(e.at.toISOString().slice(0, 19).replace('T', ' '))}</time></td><td>${escapeHtml(e.actor)}</td><td><code>${escapeHtml(e.action)}</code></td><td>${escapeHtml(e.target)}</td><td>${escapeHtml(
          Object.entries(e.details ?? {})
            .map(([k, v]) => `${k}: ${String(v)}`)
            .join(', '),
        )}</td></tr>`,
    )
    .join('')
  return page(context, {
    title: 'Audit log',
    width: 'wide',
    body: `<h1>Audit log</h1>\n${adminNav(context)}\n${entries.length === 0 ? '<p>No admin action yet.</p>' : `<div class="table-wrap"><table class="admin"><thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">On</th><th scope="col">Details</th></tr></thead><tbody>${rows}</tbody></table></div>`}`,
  })
}

const modeLabels: Record<(typeof registrationModes)[number], string> = {
  open: 'Open: anyone may sign up',
  approval: 'Approval: new accounts wait for an admin',
  invite: 'Invite only: sign-up needs an invite code',
  closed: 'Closed: only admins make accounts',
}

export function settingsPage(context: PageContext, view: {settings: SiteSettingsView; unusedInvites: number; error?: string; notice?: string; invite?: string}): string {
  const token = csrfField(context.csrfToken)
  const s = view.settings
  return page(context, {
    title: 'Site settings',
    width: 'wide',
    body: `<h1>Site settings</h1>
${adminNav(context)}
${view.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(view.notice)}</p>`}
${view.error === undefined ? '' : `<p class="notice error" role="alert">${escapeHtml(view.error)}</p>`}
<form class="stack" method="post" action="/admin/settings">
${token}
<label>Site title <input name="title" value="${escapeHtml(s.title)}" maxlength="${SITE_TITLE_MAX}"><span class="hint">Shown in every page's header.</span></label>
<fieldset><legend>Sign-up</legend>
${registrationModes.map((m) => `<label class="choice"><input type="radio" name="registration" value="${m}"${m === s.registration ? ' checked' : ''}> ${escapeHtml(modeLabels[m])}</label>`).join('\n')}
</fieldset>
<label>Rules <textarea name="rules" rows="6" maxlength="${RULES_MAX}">${escapeHtml(s.rules)}</textarea><span class="hint">Plain text, shown on the sign-up page.</span></label>
<label>Channels per account <input name="channelsPerAccount" type="number" inputmode="numeric" min="1" max="${CHANNELS_PER_ACCOUNT_MAX}" value="${s.channelsPerAccount}"><span class="hint">How many channels one account may make (1 to ${CHANNELS_PER_ACCOUNT_MAX}). Accounts keep the channels they have when you lower it.</span></label>
<button class="primary" type="submit">Save settings</button>
</form>
<h2>Invites</h2>
<p>${view.unusedInvites === 0 ? 'No unused invite code.' : `${view.unusedInvites} unused invite ${view.unusedInvites === 1 ? 'code' : 'codes'}.`} Each code makes one account while sign-up is invite only.</p>
${view.invite === undefined ? '' : `<div class="notice ok" role="status"><p><strong>New invite code</strong>, shown only now:</p><label>Invite code <span class="copy-row"><input id="invite-code" value="${escapeHtml(view.invite)}" readonly spellcheck="false"></span></label></div>`}
<form method="post" action="/admin/invites">${token}<button class="primary" type="submit">Make an invite code</button></form>`,
  })
}

/** The page of a user's personal access tokens (/account/tokens). Every value shown is escaped. */
import {dashboardJs} from '../channels/dashboard-pages.js'
import {csrfField, escapeHtml, page, type FieldErrors, type PageContext} from '../web/html.js'
import {API_DOCS_PATH} from '../web/openapi.js'
import {TOKEN_NAME_MAX, type AccessTokenInfo, type TokenScope} from './tokens.js'

const scopeText: Record<TokenScope, string> = {
  read: 'See your account, your channels and whether they are live',
  'stream-keys': 'Make and revoke your channels\' stream keys',
  admin: 'Use the admin API (find accounts); it stops working if you stop being an admin',
}

/** 2026-12-06 04:31 UTC: the same for everyone, whatever their time zone (a phone breaks it after the date only). */
const when = (date: Date | undefined): string => {
  if (date === undefined) return 'never'
  const iso = date.toISOString()
  return `<time datetime="${iso}"><span class="nowrap">${iso.slice(0, 10)}</span> <span class="nowrap">${iso.slice(11, 16)} UTC</span></time>`
}

export interface TokensView {
  tokens: readonly AccessTokenInfo[]
  /** The scopes this user may give a token (admin for admins only). */
  scopes: readonly TokenScope[]
  /** A token just made: shown now and never again. */
  created?: {name: string; token: string}
  notice?: string
  values?: {name?: string; scopes?: readonly string[]}
  errors?: FieldErrors
}

export function tokensPage(context: PageContext, view: TokensView): string {
  const errors = view.errors ?? {}
  const created =
    view.created === undefined
      ? ''
      : `<div class="notice ok" role="status"><p><strong>Your new token “${escapeHtml(view.created.name)}”.</strong> It is shown only now: copy it into your script and keep it secret.</p>
<label>Token <span class="copy-row"><input id="new-token" value="${escapeHtml(view.created.token)}" readonly spellcheck="false" autocomplete="off"><button type="button" class="primary" data-copy="new-token" hidden>Copy</button></span></label></div>`
  const list =
    view.tokens.length === 0
      ? '<p>You have no tokens.</p>'
      : `<div class="table-wrap"><table class="keys tokens">
<thead><tr><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col" class="created">Created</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>${view.tokens
          .map(
            (t) => `<tr><td>${escapeHtml(t.name)}</td><td>${t.scopes.map((s) => `<code>${escapeHtml(s)}</code>`).join(' ')}</td><td class="created">${when(t.createdAt)}</td><td>${when(t.lastUsedAt)}</td>
<td><form method="post" action="/account/tokens/${t._id.toHexString()}/revoke">${csrfField(context.csrfToken)}<button class="danger" type="submit" aria-label="Revoke ${escapeHtml(t.name)}">Revoke</button></form></td></tr>`,
          )
          .join('\n')}</tbody></table></div>`
  const chosen = view.values?.scopes ?? ['read']
  const scopeError = errors.scopes
  return page(context, {
    title: 'Access tokens',
    width: 'wide',
    scripts: [dashboardJs.url],
    body: `<h1>Access tokens</h1>
<p>A personal access token lets a script use <a href="${API_DOCS_PATH}">the API</a> as you, limited to the scopes you give it. Send it as <code>Authorization: Bearer shing_pat_…</code>.</p>
${view.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(view.notice)}</p>`}
${created}
<h2>Your tokens</h2>
${list}
<h2>Make a token</h2>
<form class="stack narrow-form" method="post" action="/account/tokens" novalidate>
${csrfField(context.csrfToken)}
<label>Name
  <input name="name" value="${escapeHtml(view.values?.name ?? '')}" required maxlength="${TOKEN_NAME_MAX}" autocomplete="off" aria-describedby="name-hint${errors.name === undefined ? '' : ' name-error'}"${errors.name === undefined ? '' : ' aria-invalid="true"'}>
  <span class="hint" id="name-hint">What uses it, e.g. “OBS start script”.</span>${errors.name === undefined ? '' : `<span class="field-error" id="name-error">${escapeHtml(errors.name)}</span>`}
</label>
<fieldset${scopeError === undefined ? '' : ' aria-describedby="scopes-error"'}>
<legend>Scopes</legend>
${view.scopes.map((s) => `<label class="choice"><input type="checkbox" name="scopes" value="${s}"${chosen.includes(s) ? ' checked' : ''}> <span><code>${s}</code> <span class="hint">${escapeHtml(scopeText[s])}</span></span></label>`).join('\n')}
${scopeError === undefined ? '' : `<span class="field-error" id="scopes-error">${escapeHtml(scopeError)}</span>`}
</fieldset>
<button class="primary" type="submit">Make token</button>
</form>
<p><a href="/account">Back to your account</a></p>`,
  })
}

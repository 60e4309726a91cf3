/** The account pages: sign up, log in, and the account's own page. Every value shown is escaped. */
import {csrfField, escapeHtml, page, type FieldErrors, type PageContext} from '../web/html.js'
import {PASSWORD_MIN_LENGTH} from './passwords.js'

function field(options: {
  name: string
  label: string
  type?: string
  value?: string
  autocomplete: string
  hint?: string
  errors: FieldErrors
  required?: boolean
  extra?: string
}): string {
  const error = options.errors[options.name]
  const hintId = `${options.name}-hint`
  const errorId = `${options.name}-error`
  const describedBy = [options.hint ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ')
  return `<label>${escapeHtml(options.label)}
  <input name="${options.name}" type="${options.type ?? 'text'}" autocomplete="${options.autocomplete}"${options.value === undefined ? '' : ` value="${escapeHtml(options.value)}"`}${options.required === false ? '' : ' required'}${error ? ' aria-invalid="true"' : ''}${describedBy ? ` aria-describedby="${describedBy}"` : ''}${options.extra ?? ''}>
  ${options.hint ? `<span class="hint" id="${hintId}">${escapeHtml(options.hint)}</span>` : ''}${error ? `<span class="field-error" id="${errorId}">${escapeHtml(error)}</span>` : ''}
</label>`
}

const formError = (message: string | undefined): string => (message === undefined ? '' : `<p class="notice error" role="alert">${escapeHtml(message)}</p>`)

export function signupPage(
  context: PageContext,
  options: {mode?: 'open' | 'approval' | 'invite' | 'closed'; rules?: string; values?: {username?: string; email?: string; invite?: string}; errors?: FieldErrors; message?: string; closed?: string},
): string {
  const errors = options.errors ?? {}
  if (options.closed !== undefined) {
    return page(context, {title: 'Sign up', body: `<h1>Sign up</h1>\n<p class="notice">${escapeHtml(options.closed)}</p>\n<p>Have an account? <a href="/login">Log in</a></p>`})
  }
  return page(context, {
    title: 'Sign up',
    body: `<h1>Create your account</h1>
${options.mode === 'approval' ? '<p class="notice">An admin approves new accounts on this site: you can log in once yours is approved.</p>' : ''}
${formError(options.message)}
<form class="stack" method="post" action="/signup" novalidate>
${csrfField(context.csrfToken)}
${options.mode === 'invite' ? field({name: 'invite', label: 'Invite code', value: options.values?.invite, autocomplete: 'off', hint: 'Sign-up on this site is by invitation.', errors, extra: ' autocapitalize="none" spellcheck="false"'}) : ''}
${field({name: 'username', label: 'Username', value: options.values?.username, autocomplete: 'username', hint: '3-30 letters, digits, _ or -. It is your address on this site.', errors, extra: ' maxlength="30" autocapitalize="none" spellcheck="false"'})}
${field({name: 'email', label: 'E-mail', type: 'email', value: options.values?.email, autocomplete: 'email', errors})}
${field({name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', hint: `At least ${PASSWORD_MIN_LENGTH} characters.`, errors, extra: ` minlength="${PASSWORD_MIN_LENGTH}"`})}
${options.rules ? `<details open><summary>This site's rules</summary><p class="rules">${escapeHtml(options.rules)}</p></details>` : ''}
<button class="primary" type="submit">Sign up</button>
</form>
<p>Have an account? <a href="/login">Log in</a></p>`,
  })
}

export function loginPage(context: PageContext, options: {login?: string; message?: string; next?: string; notice?: string}): string {
  return page(context, {
    title: 'Log in',
    body: `<h1>Log in</h1>
${options.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(options.notice)}</p>`}
${formError(options.message)}
<form class="stack" method="post" action="/login">
${csrfField(context.csrfToken)}
${options.next === undefined ? '' : `<input type="hidden" name="next" value="${escapeHtml(options.next)}">`}
${field({name: 'login', label: 'Username or e-mail', value: options.login, autocomplete: 'username', errors: {}, extra: ' autocapitalize="none" spellcheck="false"'})}
${field({name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', errors: {}})}
<button class="primary" type="submit">Log in</button>
</form>
<p><a href="/forgot">Forgot your password?</a> · New here? <a href="/signup">Create an account</a></p>`,
  })
}

export interface AccountView {
  username: string
  email: string
  /** undefined: this site sends no mail, so there is nothing to confirm. */
  emailVerified?: boolean
  role: string
  createdAt: Date
  sessions: number
  twoFactor: {enabled: false} | {enabled: true; since: Date; codesLeft: number}
}

export function accountPage(context: PageContext, account: AccountView, options: {errors?: FieldErrors; notice?: string} = {}): string {
  const errors = options.errors ?? {}
  const others = account.sessions - 1
  return page(context, {
    title: 'Your account',
    body: `<h1>Your account</h1>
${options.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(options.notice)}</p>`}
<dl class="facts">
<dt>Username</dt><dd>${escapeHtml(account.username)}</dd>
<dt>E-mail</dt><dd>${escapeHtml(account.email)}${account.emailVerified === undefined ? '' : account.emailVerified ? ' <span class="badge ok">confirmed</span>' : ' <span class="badge warn">not confirmed</span>'}</dd>
<dt>Role</dt><dd>${escapeHtml(account.role)}</dd>
<dt>Member since</dt><dd>${escapeHtml(account.createdAt.toISOString().slice(0, 10))}</dd>
</dl>

${account.emailVerified === false
  ? `<form class="notice" method="post" action="/account/email/resend">
${csrfField(context.csrfToken)}
<p>Confirm your address to go live and to get password reset links: follow the link we mailed to it.</p>
<button type="submit">Send the link again</button>
</form>`
  : ''}

<h2>Change your e-mail address</h2>
<form class="stack" method="post" action="/account/email">
${csrfField(context.csrfToken)}
${field({name: 'email', label: 'New e-mail address', type: 'email', autocomplete: 'email', hint: account.emailVerified === undefined ? undefined : 'We mail a link to the new address; it changes when you follow it.', errors})}
${field({name: 'emailPassword', label: 'Current password', type: 'password', autocomplete: 'current-password', errors})}
<button class="primary" type="submit">Change e-mail address</button>
</form>

<h2>Change your password</h2>
<form class="stack" method="post" action="/account/password">
${csrfField(context.csrfToken)}
<input type="text" name="username" autocomplete="username" value="${escapeHtml(account.username)}" hidden>
${field({name: 'current', label: 'Current password', type: 'password', autocomplete: 'current-password', errors})}
${field({name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', hint: `At least ${PASSWORD_MIN_LENGTH} characters. Your other sessions are logged out.`, errors})}
<button class="primary" type="submit">Change password</button>
</form>

<h2>Notifications</h2><p>Choose which notifications also reach you by e-mail: <a href="/account/notifications">notification settings</a>.</p>

<h2>Access tokens</h2><p>Let a script use the API as you: <a href="/account/tokens">manage your access tokens</a>.</p>
<h2>Two-factor log-in</h2>
${account.twoFactor.enabled
  ? `<p>On since ${escapeHtml(account.twoFactor.since.toISOString().slice(0, 10))}: log-in asks for a code from your authenticator app. ${account.twoFactor.codesLeft} recovery ${account.twoFactor.codesLeft === 1 ? 'code' : 'codes'} left.</p>
<form class="stack" method="post" action="/account/2fa/recovery">
${csrfField(context.csrfToken)}
${field({name: 'recoveryTotp', label: 'Code from your app', autocomplete: 'one-time-code', hint: 'New recovery codes replace the old ones.', errors, extra: ' inputmode="numeric" maxlength="6"'})}
<button type="submit">New recovery codes</button>
</form>
<form class="stack" method="post" action="/account/2fa/disable">
${csrfField(context.csrfToken)}
${field({name: 'disablePassword', label: 'Current password', type: 'password', autocomplete: 'current-password', errors})}
${field({name: 'disableCode', label: 'Code from your app, or a recovery code', autocomplete: 'one-time-code', errors, extra: ' autocapitalize="none" spellcheck="false"'})}
<button class="danger" type="submit">Turn two-factor log-in off</button>
</form>`
  : `<p>Off. With it on, a stolen password alone does not log anyone in: log-in also asks for a code from an app on your phone.</p>
<p><a class="button" href="/account/2fa/setup">Turn on two-factor log-in</a></p>`}

<h2>Sessions</h2>
<p>${others <= 0 ? 'You are logged in here only.' : `You are logged in here and in ${others} other ${others === 1 ? 'place' : 'places'}.`}</p>
<form method="post" action="/account/logout-everywhere">
${csrfField(context.csrfToken)}
<button class="danger" type="submit">Log out everywhere</button>
</form>

<h2>Delete your account</h2>
<p>Your channels go with it: their stream keys, images and past broadcasts (the recordings are deleted from storage), and your access tokens. This cannot be undone.</p>
<form class="stack" method="post" action="/account/delete">
${csrfField(context.csrfToken)}
${field({name: 'confirmUsername', label: `Type your username (${account.username}) to confirm`, autocomplete: 'off', errors, extra: ' autocapitalize="none" spellcheck="false"'})}
${field({name: 'deletePassword', label: 'Current password', type: 'password', autocomplete: 'current-password', errors})}
<button class="danger" type="submit">Delete my account for good</button>
</form>`,
  })
}

export function forgotPage(context: PageContext, options: {mailEnabled: boolean; login?: string; sent?: boolean}): string {
  if (!options.mailEnabled) {
    return page(context, {
      title: 'Forgot your password?',
      body: `<h1>Forgot your password?</h1>
<p class="notice">This site sends no e-mail, so it cannot mail you a reset link. Ask the site's admin: they can set a new password for you (<code>shing user reset-password &lt;username&gt;</code>).</p>
<p><a href="/login">Back to log in</a></p>`,
    })
  }
  return page(context, {
    title: 'Forgot your password?',
    body: `<h1>Forgot your password?</h1>
${options.sent ? '<p class="notice ok" role="status">If an account uses that name or address, a mail with a reset link is on its way to it. The link works once, for an hour. Nothing there? Look in the spam folder, then ask again.</p>' : '<p>Enter your username or e-mail address: we mail a link to choose a new password to the account\'s address.</p>'}
<form class="stack" method="post" action="/forgot">
${csrfField(context.csrfToken)}
${field({name: 'login', label: 'Username or e-mail', value: options.login, autocomplete: 'username', errors: {}, extra: ' autocapitalize="none" spellcheck="false"'})}
<button class="primary" type="submit">Mail me a reset link</button>
</form>
<p><a href="/login">Back to log in</a></p>`,
  })
}

export function resetPage(context: PageContext, options: {token: string; username: string; errors?: FieldErrors}): string {
  return page(context, {
    title: 'Choose a new password',
    body: `<h1>Choose a new password</h1>
<form class="stack" method="post" action="/reset" novalidate>
${csrfField(context.csrfToken)}
<input type="hidden" name="token" value="${escapeHtml(options.token)}">
<input type="text" name="username" autocomplete="username" value="${escapeHtml(options.username)}" hidden>
${field({name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', hint: `At least ${PASSWORD_MIN_LENGTH} characters. Every session of the account is logged out.`, errors: options.errors ?? {}, extra: ` minlength="${PASSWORD_MIN_LENGTH}"`})}
<button class="primary" type="submit">Set the new password</button>
</form>`,
  })
}

/** What a mailed link leads to when it cannot be used: why, and what to do instead. */
export function deadLinkPage(context: PageContext, options: {title: string; message: string; next: {href: string; label: string}}): string {
  return page(context, {
    title: options.title,
    body: `<h1>${escapeHtml(options.title)}</h1>
<p class="notice error" role="alert">${escapeHtml(options.message)}</p>
<p><a href="${escapeHtml(options.next.href)}">${escapeHtml(options.next.label)}</a></p>`,
  })
}

export function twoFactorLoginPage(context: PageContext, options: {message?: string} = {}): string {
  return page(context, {
    title: 'Two-factor log-in',
    body: `<h1>One more step</h1>
<p>Enter the 6-digit code your authenticator app shows for this site. Lost your phone? Enter one of your recovery codes instead.</p>
${formError(options.message)}
<form class="stack" method="post" action="/login/2fa">
${csrfField(context.csrfToken)}
${field({name: 'code', label: 'Code', autocomplete: 'one-time-code', errors: {}, extra: ' autocapitalize="none" spellcheck="false" autofocus'})}
<button class="primary" type="submit">Log in</button>
</form>
<p><a href="/login">Start again</a></p>`,
  })
}

export function twoFactorSetupPage(context: PageContext, options: {qrSvg: string; secret: string; errors?: FieldErrors}): string {
  const grouped = options.secret.replace(/(.{4})/g, '$1 ').trim()
  return page(context, {
    title: 'Turn on two-factor log-in',
    body: `<h1>Turn on two-factor log-in</h1>
<ol class="steps">
<li>Open an authenticator app on your phone (any TOTP app: Aegis, FreeOTP, Google Authenticator, 1Password…) and add an account by scanning this code:
<div class="qr" role="img" aria-label="QR code to scan with the app">${options.qrSvg}</div>
<p class="hint">Cannot scan? Type this key into the app instead: <code class="secret">${escapeHtml(grouped)}</code></p></li>
<li>Enter the 6-digit code the app shows now:
<form class="stack" method="post" action="/account/2fa/enable" novalidate>
${csrfField(context.csrfToken)}
${field({name: 'code', label: 'Code from the app', autocomplete: 'one-time-code', errors: options.errors ?? {}, extra: ' inputmode="numeric" maxlength="6" autofocus'})}
<button class="primary" type="submit">Turn on</button>
</form></li>
</ol>
<p><a href="/account">Cancel</a></p>`,
  })
}

export function recoveryCodesPage(context: PageContext, options: {codes: string[]; first: boolean}): string {
  return page(context, {
    title: 'Your recovery codes',
    body: `<h1>${options.first ? 'Two-factor log-in is on' : 'New recovery codes'}</h1>
<p class="notice ok" role="status">Keep these recovery codes somewhere safe (a password manager, or on paper). Each logs you in once without your phone. They are shown only now${options.first ? '' : '; the old ones no longer work'}.</p>
<ul class="codes">${options.codes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('')}</ul>
<p><a class="button" href="/account">I have saved them</a></p>`,
  })
}

export function accountDeletedPage(context: PageContext, removal: {channels: string[]; pastBroadcasts: number}): string {
  const channels = removal.channels.length === 0 ? '' : ` with ${removal.channels.length === 1 ? 'its channel' : `its ${removal.channels.length} channels`} and ${removal.pastBroadcasts === 1 ? '1 past broadcast' : `${removal.pastBroadcasts} past broadcasts`}`
  return page(context, {
    title: 'Account deleted',
    body: `<h1>Your account is deleted</h1>
<p class="notice ok" role="status">Your account is gone${escapeHtml(channels)}; the recordings leave storage within minutes. Thank you for having been here.</p>
<p><a href="/">Go to the front page</a></p>`,
  })
}

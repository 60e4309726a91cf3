import type {CreateUserResult, ResetPasswordResult, ResetTwoFactorResult} from '../users/users.js'

/** Where to log in and the password, which is never shown again. */
const credentials = (r: {loginUrl: string; password: string}): string[] => [
  '',
  `Log in at  ${r.loginUrl}`,
  `Password   ${r.password}`,
  '',
  'The password is shown only now. Change it on the account page after logging in.',
]

export function renderCreatedUser(r: CreateUserResult): string {
  return [`Created ${r.role === 'user' ? 'the account' : r.role} ${r.username} <${r.email}>.`, ...credentials(r)].join('\n')
}

export function renderPasswordReset(r: ResetPasswordResult): string {
  return [`New password for ${r.username}; ${r.sessionsEnded === 0 ? 'it had no open session' : `${r.sessionsEnded} session(s) logged out`}.`, ...credentials(r)].join('\n')
}

export function renderTwoFactorReset(r: ResetTwoFactorResult): string {
  return r.wasOn
    ? `Two-factor log-in of ${r.username} is off: their password alone logs them in at ${r.loginUrl}. They can turn it on again on their account page.`
    : `${r.username} had no two-factor log-in: nothing changed.`
}

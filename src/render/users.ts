import type {CreateUserResult, ResetPasswordResult} from '../users/users.js'

export function renderCreatedUser(r: CreateUserResult): string {
  return [
    `Created ${r.role === 'user' ? 'the account' : r.role} ${r.username} <${r.email}>.`,
    '',
    `Log in at  ${r.loginUrl}`,
    `Password   ${r.password}`,
    '',
    'The password is shown only now. Change it on the account page after logging in.',
  ].join('\n')
}

export function renderPasswordReset(r: ResetPasswordResult): string {
  return [
    `New password for ${r.username}; ${r.sessionsEnded === 0 ? 'it had no open session' : `${r.sessionsEnded} session(s) logged out`}.`,
    '',
    `Log in at  ${r.loginUrl}`,
    `Password   ${r.password}`,
    '',
    'The password is shown only now. Change it on the account page after logging in.',
  ].join('\n')
}

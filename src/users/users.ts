/**
 * `shing user …`: account operations run in a web container of the running stack, for a site
 * whose admin is locked out or that has no admin yet. Passwords are generated there and shown once.
 */
import type {CreatedUser, PasswordReset, Role, TwoFactorReset} from '../../appliance/contract/index.js'
import {runAdmin} from '../admin/run-admin.js'
import {loadConfig} from '../config/load.js'
import type {Engine} from '../engine/engine.js'
import {publicUrl} from '../stack/plan.js'

export interface CreateUserResult extends CreatedUser {
  /** Where the new account logs in. */
  loginUrl: string
}

export interface ResetPasswordResult extends PasswordReset {
  loginUrl: string
}

const loginUrl = (base: string): string => `${base.replace(/\/+$/, '')}/login`

export async function createUser(engine: Engine, dir: string, input: {username: string; email: string; role: Role}): Promise<CreateUserResult> {
  const {config} = await loadConfig(dir)
  const created = await runAdmin(engine, 'user.create', input)
  return {...created, loginUrl: loginUrl(publicUrl(config))}
}

export async function resetPassword(engine: Engine, dir: string, username: string): Promise<ResetPasswordResult> {
  const {config} = await loadConfig(dir)
  const reset = await runAdmin(engine, 'user.reset-password', {username})
  return {...reset, loginUrl: loginUrl(publicUrl(config))}
}

export interface ResetTwoFactorResult extends TwoFactorReset {
  loginUrl: string
}

export async function resetTwoFactor(engine: Engine, dir: string, username: string): Promise<ResetTwoFactorResult> {
  const {config} = await loadConfig(dir)
  const reset = await runAdmin(engine, 'user.reset-2fa', {username})
  return {...reset, loginUrl: loginUrl(publicUrl(config))}
}

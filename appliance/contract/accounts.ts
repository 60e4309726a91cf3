/** Accounts as the CLI and the appliance both know them: roles, and what the user admin operations return. */
import {z} from 'zod'

export const roles = ['admin', 'moderator', 'user'] as const
export const roleSchema = z.enum(roles)
export type Role = z.infer<typeof roleSchema>

export const createdUserSchema = z.object({
  username: z.string(),
  email: z.string(),
  role: roleSchema,
  /** Generated; the only time it is ever shown. */
  password: z.string(),
  createdAt: z.string(),
})
export type CreatedUser = z.infer<typeof createdUserSchema>

export const passwordResetSchema = z.object({
  username: z.string(),
  /** Generated; the only time it is ever shown. */
  password: z.string(),
  /** Sessions of the account that were logged out. */
  sessionsEnded: z.number().int().min(0),
})
export type PasswordReset = z.infer<typeof passwordResetSchema>

export const twoFactorResetSchema = z.object({
  username: z.string(),
  /** false: it was not on, nothing changed. */
  wasOn: z.boolean(),
})
export type TwoFactorReset = z.infer<typeof twoFactorResetSchema>

/**
 * Admin operations: what `shing` asks of the running platform (stream keys and users today;
 * channels, bans, backups later). One typed map, each operation with its input and result schemas. The CLI
 * runs `node <imagePaths.admin> <operation> '<input JSON>'` in a web container; the appliance
 * parses the input, runs the operation and prints one line, an AdminReply.
 */
import {z} from 'zod'

import {createdUserSchema, passwordResetSchema, roleSchema, twoFactorResetSchema} from './accounts.js'
import {housekeepingReportSchema, jobsRemoveResultSchema, jobsRetryResultSchema, jobsSummarySchema} from './jobs.js'
import {channelNameSchema} from './live.js'

export const createdStreamKeySchema = z.object({
  channel: z.string(),
  keyId: z.string(),
  /** The only time the key is ever shown. */
  key: z.string(),
  createdAt: z.string(),
})
export type CreatedStreamKey = z.infer<typeof createdStreamKeySchema>

export const streamKeyInfoSchema = z.object({
  channel: z.string(),
  keyId: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
})
export type StreamKeyInfo = z.infer<typeof streamKeyInfoSchema>

export const revokeResultSchema = z.object({
  channel: z.string(),
  /** Key ids revoked now (already revoked ones are left out). */
  revoked: z.array(z.string()),
})
export type RevokeResult = z.infer<typeof revokeResultSchema>

/** A stream key's id as `list` shows it and `revoke` takes it: hex, a prefix of the key's HMAC. */
export const KEY_ID_PATTERN = /^[0-9a-f]{1,64}$/

interface AdminOperation {
  summary: string
  input: z.ZodType
  result: z.ZodType
}

export const adminOperations = {
  'stream-key.create': {
    summary: 'Create a stream key for a channel (the channel is created if new)',
    input: z.strictObject({channel: channelNameSchema}),
    result: createdStreamKeySchema,
  },
  'stream-key.list': {
    summary: 'List stream keys, never the keys themselves',
    input: z.strictObject({channel: channelNameSchema.optional()}),
    result: z.array(streamKeyInfoSchema),
  },
  'stream-key.revoke': {
    summary: "Revoke a channel's keys (all, or one by keyId)",
    input: z.strictObject({channel: channelNameSchema, keyId: z.string().regex(KEY_ID_PATTERN).optional()}),
    result: revokeResultSchema,
  },
  'user.create': {
    summary: 'Create an account with a generated password (shown once); role admin for a first admin',
    input: z.strictObject({username: z.string().min(1).max(100), email: z.string().min(1).max(254), role: roleSchema.default('user')}),
    result: createdUserSchema,
  },
  'user.reset-password': {
    summary: "Give an account a new generated password (shown once) and log out all of its sessions",
    input: z.strictObject({username: z.string().min(1).max(100)}),
    result: passwordResetSchema,
  },
  'user.reset-2fa': {
    summary: 'Turn off the two-factor log-in of an account that lost its phone and its recovery codes',
    input: z.strictObject({username: z.string().min(1).max(100)}),
    result: twoFactorResetSchema,
  },
  'jobs.summary': {
    summary: 'Jobs per queue and state, the workers that are up, and the jobs that failed for good',
    input: z.strictObject({failedLimit: z.number().int().min(0).max(1000).default(20)}),
    result: jobsSummarySchema,
  },
  'jobs.retry': {
    summary: 'Run failed jobs again: one (queue and id), a queue\'s, or every queue\'s',
    input: z.strictObject({queue: z.string().min(1).max(100).optional(), jobId: z.string().min(1).max(200).optional()}).refine((i) => i.jobId === undefined || i.queue !== undefined, {message: 'a job id needs its queue'}),
    result: jobsRetryResultSchema,
  },
  'jobs.remove': {
    summary: 'Remove one job (waiting, delayed or failed) from its queue',
    input: z.strictObject({queue: z.string().min(1).max(100), jobId: z.string().min(1).max(200)}),
    result: jobsRemoveResultSchema,
  },
  'jobs.housekeeping': {
    summary: 'Run housekeeping now on a worker and wait for its report (a dry run removes nothing)',
    input: z.strictObject({dryRun: z.boolean().default(false)}),
    result: housekeepingReportSchema,
  },
} as const satisfies Record<string, AdminOperation>

export type AdminOperationName = keyof typeof adminOperations
export const adminOperationNames = Object.keys(adminOperations) as AdminOperationName[]
export type AdminInput<K extends AdminOperationName> = z.infer<(typeof adminOperations)[K]['input']>
export type AdminResult<K extends AdminOperationName> = z.infer<(typeof adminOperations)[K]['result']>

/** The one line the admin entry prints: the result, or an error the admin can act on ('abort') or ours ('bug'). */
export const adminReplySchema = z.discriminatedUnion('ok', [
  z.object({ok: z.literal(true), result: z.unknown()}),
  z.object({
    ok: z.literal(false),
    error: z.object({kind: z.enum(['abort', 'bug']), message: z.string(), actions: z.array(z.string()).default([])}),
  }),
])
export type AdminReply = z.infer<typeof adminReplySchema>

/**
 * Backups: what `shing backup` writes and `shing restore` reads, and what the one-shot task in the
 * appliance image (appliance/backup.ts) and the CLI say to each other.
 *
 * A backup target (a folder) holds:
 *
 *   blobs/<sha[0:2]>/<sha256>   the objects' bytes, by content: shared by every backup, never rewritten
 *   <id>/manifest.json          written last: a backup folder exists only once it is whole
 *   <id>/mongo/<name>.ejson.gz  each collection, one canonical Extended JSON document per line
 *   <id>/redis.jsonl.gz         the keys that must survive (sessions, queues, timelines), DUMP format
 *   <id>/config.sealed          shing.yaml and the secrets file, encrypted with the admin's passphrase
 *   .<id>.partial/              a backup being written (or one that was interrupted: never a backup)
 */
import {z} from 'zod'

export const BACKUP_FORMAT = 1
export const BACKUP_MANIFEST = 'manifest.json'
export const BACKUP_SEALED_CONFIG = 'config.sealed'
export const BACKUP_REDIS_FILE = 'redis.jsonl.gz'
/** Where the task sees the target folder. */
export const BACKUP_MOUNT = '/backup'

/**
 * The Redis keys a site cannot lose: sign-ins, the job queues, home timelines, mail links not yet
 * followed, and which mails were sent (so a retried job does not send one twice). Everything else
 * in Redis is a cache, a heartbeat, a rate count or live state, rebuilt by the running components.
 */
export const DURABLE_REDIS_PREFIXES = ['shing:session:', 'shing:user-sessions:', 'shing:queue:', 'shing:timeline:', 'shing:mail-link:', 'shing:mail-sent:'] as const

/** A backup's id: its UTC time, sortable, safe as a folder name. */
export const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z$/
export const backupId = (at: Date): string => at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/)

export const backupObjectSchema = z.object({
  key: z.string().min(1),
  size: z.number().int().nonnegative(),
  etag: z.string(),
  sha256: sha256Schema,
  contentType: z.string().optional(),
})
export type BackupObject = z.infer<typeof backupObjectSchema>

export const backupManifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  id: z.string().regex(BACKUP_ID_PATTERN),
  createdAt: z.string(),
  /** The Shing release that wrote it. */
  version: z.string(),
  seconds: z.number(),
  mongo: z.object({
    database: z.string(),
    // The file names are checked: a manifest names nothing outside its backup's folder.
    collections: z.array(z.object({name: z.string().min(1).refine((n) => !n.startsWith('system.'), 'a system collection'), documents: z.number().int().nonnegative(), file: z.string().regex(/^mongo\/[^/\\]+\.ejson\.gz$/), sha256: sha256Schema})),
  }),
  redis: z.object({keys: z.number().int().nonnegative(), file: z.literal(BACKUP_REDIS_FILE), sha256: sha256Schema, prefixes: z.array(z.string())}),
  objects: z.object({
    bucket: z.string(),
    count: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    /** Copied by this backup (the rest were in an earlier one, unchanged). */
    copied: z.number().int().nonnegative(),
    copiedBytes: z.number().int().nonnegative(),
    entries: z.array(backupObjectSchema),
  }),
  config: z.object({file: z.literal(BACKUP_SEALED_CONFIG), sha256: sha256Schema}).optional(),
})
export type BackupManifest = z.infer<typeof backupManifestSchema>

/** One line of progress the task prints while it works. */
export const backupProgressSchema = z.object({
  progress: z.object({
    step: z.enum(['mongo', 'redis', 'objects', 'config', 'verify', 'prune']),
    done: z.number(),
    total: z.number().optional(),
    bytes: z.number().optional(),
    text: z.string(),
  }),
})
export type BackupProgress = z.infer<typeof backupProgressSchema>['progress']

export const backupSummarySchema = z.object({
  id: z.string(),
  path: z.string(),
  documents: z.number(),
  collections: z.number(),
  redisKeys: z.number(),
  objects: z.number(),
  objectBytes: z.number(),
  copied: z.number(),
  copiedBytes: z.number(),
  /** What the backup adds to the target on disk (its own files and the blobs it copied). */
  writtenBytes: z.number(),
  seconds: z.number(),
  pruned: z.array(z.string()),
})
export type BackupSummary = z.infer<typeof backupSummarySchema>

export const restoreSummarySchema = z.object({
  id: z.string(),
  documents: z.object({restored: z.number(), expected: z.number()}),
  collections: z.number(),
  redisKeys: z.number(),
  objects: z.object({verified: z.number(), expected: z.number(), uploaded: z.number(), unchanged: z.number(), removed: z.number(), bytes: z.number()}),
  seconds: z.number(),
})
export type RestoreSummary = z.infer<typeof restoreSummarySchema>

/** The task's input, in SHING_BACKUP_REQUEST. */
export const backupRequestSchema = z.discriminatedUnion('operation', [
  z.object({
    operation: z.literal('backup'),
    id: z.string().regex(BACKUP_ID_PATTERN),
    version: z.string(),
    /** config.sealed's text (already encrypted by the CLI), or none. */
    sealedConfig: z.string().optional(),
    /** Complete backups to keep in the target, this one included; older ones are removed. */
    keep: z.number().int().min(1).optional(),
  }),
  z.object({operation: z.literal('restore'), id: z.string().regex(BACKUP_ID_PATTERN)}),
])
export type BackupRequest = z.infer<typeof backupRequestSchema>
export const BACKUP_REQUEST_ENV = 'SHING_BACKUP_REQUEST'
/** The target folder, where the task sees it (BACKUP_MOUNT in the stack). */
export const BACKUP_DIR_ENV = 'SHING_BACKUP_DIR'

/**
 * What the workers do with video, and how long things are kept, as the CLI and the appliance agree
 * on it: shing.yaml `media:` → SHING_MEDIA (JSON) and `retention:` → SHING_RETENTION (JSON), on the
 * web and the worker. A key left out takes its default.
 */
import {z} from 'zod'

export const mediaSettingsSchema = z.strictObject({
  clips: z
    .strictObject({
      /** The longest clip a viewer may cut, in seconds (15–60). */
      maxSeconds: z.number().int().min(15).max(60).default(60),
    })
    .prefault({}),
  thumbnails: z
    .strictObject({
      /** How often a live channel's thumbnail is taken again, in seconds (30–60). */
      liveEverySeconds: z.number().int().min(30).max(60).default(30),
    })
    .prefault({}),
  /** An optional re-encode of every finished broadcast into one smaller rendition, replacing the ladder's archive once it plays. */
  reencode: z
    .strictObject({
      enabled: z.boolean().default(false),
      height: z.number().int().min(144).max(2160).default(480),
      videoKbps: z.number().int().min(100).max(50_000).default(1000),
      codec: z.enum(['h264', 'hevc']).default('h264'),
      /** prefer: on a GPU worker when one is up, else (or when it goes away first) on CPU at low priority; require: wait for a GPU worker. */
      gpu: z.enum(['prefer', 'require']).default('prefer'),
    })
    .prefault({}),
})
export type MediaSettings = z.infer<typeof mediaSettingsSchema>

export const retentionSchema = z.strictObject({
  /** Past broadcasts older than this many days are deleted unless their streamer keeps them; 0 keeps them all. */
  vodDays: z.number().int().min(0).max(36_500).default(0),
  /** Chat messages older than this many days are dropped; 0 keeps them all. */
  chatDays: z.number().int().min(0).max(36_500).default(0),
  /** An object in the bucket that nothing points at is removed once it is this many hours old. */
  orphanGraceHours: z.number().int().min(1).max(8760).default(24),
})
export type Retention = z.infer<typeof retentionSchema>

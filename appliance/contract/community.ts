/**
 * How the community features behave, as the CLI and the appliance agree on it: shing.yaml
 * `community:` → SHING_COMMUNITY (JSON), on the web and the worker. A key left out takes its default.
 */
import {z} from 'zod'

export const communitySettingsSchema = z.strictObject({
  timelines: z
    .strictObject({
      /**
       * A channel with at most this many followers has each new post written into every follower's
       * timeline (fan-out on write, a worker job); a bigger one is merged in when a timeline is read.
       */
      fanoutMaxFollowers: z.number().int().min(0).max(10_000_000).default(10_000),
      /** The newest posts a timeline keeps in Redis; older ones are read from MongoDB. */
      length: z.number().int().min(50).max(10_000).default(800),
    })
    .prefault({}),
  schedule: z
    .strictObject({
      /** Followers who asked are reminded this many minutes before a scheduled stream. */
      remindMinutesBefore: z.number().int().min(1).max(1440).default(10),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      /**
       * Allow webhooks to private, loopback and link-local addresses (a receiver on the same network).
       * Off by default: a streamer's webhook must not reach into the site's own network.
       */
      allowPrivateAddresses: z.boolean().default(false),
    })
    .prefault({}),
})
export type CommunitySettings = z.infer<typeof communitySettingsSchema>

import {z} from 'zod'

import {chatLimitsSchema, communitySettingsSchema, componentPorts, mediaSettingsSchema, retentionSchema, smtpSecurityModes} from '../../appliance/contract/index.js'

/** The config format version this release writes and reads; older versions will be migrated. */
export const CONFIG_VERSION = 1

const port = z.number().int().min(1).max(65_535)
const hostname = z
  .string()
  .min(1)
  .regex(/^[a-zA-Z0-9.:[\]-]+$/, 'must be a DNS name or an IP address, without scheme or path')

export const tlsSchema = z.discriminatedUnion('mode', [
  z.strictObject({mode: z.literal('auto')}),
  z.strictObject({mode: z.literal('none')}),
  z.strictObject({mode: z.literal('files'), certFile: z.string().min(1), keyFile: z.string().min(1)}),
])

/** S3's bucket naming rules (the strictest of the common ones, so any S3 takes the name). */
const bucket = z
  .string()
  .regex(
    /^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    'not a valid S3 bucket name: use 3-63 of a-z, 0-9, "." and "-", starting and ending with a letter or digit (e.g. shing-media)',
  )

export const storageSchema = z.discriminatedUnion('kind', [
  z.strictObject({kind: z.literal('minio'), bucket: bucket.default('shing')}),
  z.strictObject({
    kind: z.literal('s3'),
    endpoint: z.url(),
    region: z.string().min(1).default('us-east-1'),
    bucket,
    pathStyle: z.boolean().default(true),
  }),
])

/** Account mail: none (no verification; resets by the admin) or an SMTP server the worker sends through. */
export const mailSchema = z.discriminatedUnion('mode', [
  z.strictObject({mode: z.literal('none')}),
  z.strictObject({
    mode: z.literal('smtp'),
    host: hostname,
    port: port.default(587),
    security: z.enum(smtpSecurityModes).default('starttls'),
    /** The SMTP log-in, when the server wants one; its password is smtpPassword in the secrets file. */
    username: z.string().min(1).optional(),
    /** The sender, e.g. "Shing <live@example.org>"; the server must accept it. */
    from: z.string().regex(/^([^<>@\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/, 'must be an address, or a name and an address: "Shing <live@example.org>"'),
  }),
])

export const imagesSchema = z.strictObject({
  appliance: z.string().min(1).optional(),
  mongo: z.string().min(1).optional(),
  redis: z.string().min(1).optional(),
  minio: z.string().min(1).optional(),
  caddy: z.string().min(1).optional(),
})

export const configSchema = z
  .strictObject({
    version: z.literal(CONFIG_VERSION),
    site: z.strictObject({
      hostname,
      adminEmail: z.email(),
    }),
    ports: z
      .strictObject({
        http: port,
        https: port,
        rtmp: port,
        /**
         * Viewers fetch live video straight from the relays on this port (HTTPS with the site's
         * certificate) instead of through the edge. Unset: all video goes through the edge.
         */
        relayHttps: port.optional(),
        /**
         * TURN (coturn beside each SFU), UDP and TCP, for browsers whose network lets no media
         * through to the SFU; it relays from the WebRTC range's ports the SFU's workers leave. Unset: no TURN.
         */
        turn: port.optional(),
        webrtc: z
          .strictObject({
            min: port,
            max: port,
            /** The IP browsers send call media to; unset: the site's hostname, resolved on the SFU's box. */
            announcedAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
          })
          .refine((r) => r.min <= r.max, {message: 'min must not be greater than max'}),
      })
      .superRefine((ports, ctx) => {
        const tcp = [
          ['http', ports.http],
          ['https', ports.https],
          ['rtmp', ports.rtmp],
          ...(ports.relayHttps === undefined ? [] : [['relayHttps', ports.relayHttps] as const]),
          ...(ports.turn === undefined ? [] : [['turn', ports.turn] as const]),
        ] as const
        for (let i = 0; i < tcp.length; i++) {
          for (let j = i + 1; j < tcp.length; j++) {
            const [a, pa] = tcp[i]!
            const [b, pb] = tcp[j]!
            if (pa === pb) {
              ctx.addIssue({code: 'custom', path: [b], message: `port clash: ports.${b} and ports.${a} are both ${pa}; give each its own port`})
            }
          }
        }
        if (ports.turn !== undefined && ports.turn >= ports.webrtc.min && ports.turn <= ports.webrtc.max) {
          ctx.addIssue({code: 'custom', path: ['turn'], message: `ports.turn (${ports.turn}) is inside ports.webrtc (${ports.webrtc.min}-${ports.webrtc.max}), which the SFU and TURN's relays use: give TURN a port outside it (3478 is its usual one)`})
        }
        if (ports.webrtc.max - ports.webrtc.min > 10_000) {
          ctx.addIssue({
            code: 'custom',
            path: ['webrtc'],
            message: 'the WebRTC range spans more than 10000 ports; a few hundred per SFU box is plenty',
          })
        }
      }),
    tls: tlsSchema,
    storage: storageSchema,
    dataDir: z.string().startsWith('/', 'must be an absolute path'),
    hardware: z.strictObject({
      /** A name from hardware-profiles/; validateConfig checks that it exists. */
      profile: z.string().min(1),
      /** Live ladders per ingest; `shing doctor` checks it against what this box transcodes in realtime. */
      ingestMaxLadders: z.number().int().min(1).max(256).optional(),
    }),
    mail: mailSchema.default({mode: 'none'}),
    /** The site's chat limits, passed to the web as SHING_CHAT_LIMITS; a key left out takes its default. */
    chat: chatLimitsSchema.prefault({}),
    /** Clips, thumbnails and the optional re-encode of finished broadcasts: SHING_MEDIA on the web and the worker. */
    media: mediaSettingsSchema.prefault({}),
    /** How long past broadcasts, chat and unreferenced objects are kept: SHING_RETENTION on the web and the worker. */
    retention: retentionSchema.prefault({}),
    /** Timelines, the schedule's reminders and webhooks: SHING_COMMUNITY on the web and the worker. */
    community: communitySettingsSchema.prefault({}),
    images: imagesSchema.default({}),
    swarm: z
      .strictObject({
        /** Address other boxes reach this one at; detected by the engine when unset. */
        advertiseAddr: z.string().min(1).optional(),
        /** IPsec-encrypt the overlay network (needs the kernel's ESP support on every box). */
        encryptOverlay: z.boolean().default(true),
      })
      .default({encryptOverlay: true}),
    components: z
      .strictObject({
        web: z.strictObject({replicas: z.number().int().min(1).max(64)}).default({replicas: 2}),
        worker: z.strictObject({replicas: z.number().int().min(1).max(64)}).default({replicas: 1}),
      })
      .default({web: {replicas: 2}, worker: {replicas: 1}}),
  })
  .superRefine((config, ctx) => {
    if (config.ports.relayHttps === componentPorts.relay.http) {
      ctx.addIssue({
        code: 'custom',
        path: ['ports', 'relayHttps'],
        message: `${componentPorts.relay.http} is the relay's own plain port inside its container; give ports.relayHttps another (e.g. 8443)`,
      })
    }
    if (config.ports.relayHttps !== undefined && config.tls.mode === 'none') {
      ctx.addIssue({
        code: 'custom',
        path: ['ports', 'relayHttps'],
        message: 'viewers reach the relays directly over HTTPS, which needs a certificate: remove ports.relayHttps with tls.mode none, or set tls.mode to auto or files',
      })
    }
  })

export type ShingConfig = z.infer<typeof configSchema>
export type ShingConfigInput = z.input<typeof configSchema>

/** Generated secrets: swarm secrets at `up`, never regenerated once written. */
export const generatedSecretNames = [
  'mongoRootPassword',
  'redisPassword',
  'minioRootUser',
  'minioRootPassword',
  'sessionSecret',
  'streamKeySecret',
] as const

export const secretsSchema = z.strictObject({
  version: z.literal(CONFIG_VERSION),
  mongoRootPassword: z.string().min(16),
  redisPassword: z.string().min(16),
  minioRootUser: z.string().min(3),
  minioRootPassword: z.string().min(16),
  sessionSecret: z.string().min(32),
  streamKeySecret: z.string().min(32),
  /** Only with an external S3 (storage.kind: s3). */
  s3AccessKey: z.string().min(1).optional(),
  s3SecretKey: z.string().min(1).optional(),
  /** Only with mail.mode smtp and a mail.username. */
  smtpPassword: z.string().min(1).optional(),
})

export type ShingSecrets = z.infer<typeof secretsSchema>

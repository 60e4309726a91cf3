import {z} from 'zod'

export const encoderKinds = ['x264', 'nvenc', 'vaapi', 'qsv'] as const
export type EncoderKind = (typeof encoderKinds)[number]

const rendition = z.strictObject({
  name: z.string().regex(/^[a-z0-9]+$/),
  height: z.number().int().min(144).max(2160),
  fps: z.number().int().min(15).max(60),
  videoKbps: z.number().int().min(100),
  audioKbps: z.number().int().min(32),
})
export type Rendition = z.infer<typeof rendition>

/** One YAML under hardware-profiles/: how a class of box encodes and how much it takes on. */
export const hardwareProfileSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9-]+$/),
    description: z.string(),
    /** What a box must have for this profile to be chosen. */
    requires: z.strictObject({
      gpu: z.enum(['none', 'nvidia-nvenc', 'intel-vaapi', 'amd-vaapi']),
      minCores: z.number().int().min(1),
      minMemoryGiB: z.number().min(1),
      minDiskGiB: z.number().min(1),
    }),
    encoder: z.strictObject({
      kind: z.enum(encoderKinds),
      /** ffmpeg arguments before -i (hardware decode/upload). */
      inputArgs: z.array(z.string()),
      /** The scale filter for one rendition; {height} is replaced. */
      scaleFilter: z.string().includes('{height}'),
      /** ffmpeg arguments for each rendition's video encoder. */
      videoArgs: z.array(z.string()).min(2),
    }),
    ladder: z.array(rendition).min(1),
    hls: z.strictObject({
      segmentSeconds: z.number().min(1).max(10),
      partSeconds: z.number().min(0.1).max(2),
    }),
    ingest: z.strictObject({
      /** Live ladders one ingest process transcodes at once. */
      maxLadders: z.number().int().min(1),
    }),
    sfu: z.strictObject({
      /** mediasoup workers; 0 = one per core. */
      workers: z.number().int().min(0),
      /**
       * Media streams one worker (one core) sends before the SFU counts it full: a room's next
       * participants go to a part of the room on another worker, new rooms to another SFU.
       */
      consumersPerWorker: z.number().int().min(1).default(500),
    }),
    worker: z.strictObject({
      /** General jobs (mail, bookkeeping) a worker process runs at once, per job type. */
      concurrency: z.number().int().min(1),
      /** Video jobs (remux, clips, thumbnails, re-encodes) a worker process runs at once, per job type: ffmpeg is heavy. */
      videoConcurrency: z.number().int().min(1),
    }),
  })
  .superRefine((profile, ctx) => {
    const heights = profile.ladder.map((r) => r.height)
    if (heights.some((h, i) => i > 0 && h >= heights[i - 1]!)) {
      ctx.addIssue({code: 'custom', path: ['ladder'], message: 'renditions must go from the highest to the lowest'})
    }
    if (profile.hls.partSeconds >= profile.hls.segmentSeconds) {
      ctx.addIssue({code: 'custom', path: ['hls', 'partSeconds'], message: 'a part must be shorter than a segment'})
    }
    const segment = profile.hls.segmentSeconds
    for (const [i, r] of profile.ladder.entries()) {
      // Segments start on keyframes: the GOP (fps × segment) must be a whole number of frames.
      if (!Number.isInteger(r.fps * segment)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ladder', i, 'fps'],
          message: `fps × hls.segmentSeconds must be whole so keyframes line up with segments`,
        })
      }
    }
  })

export type HardwareProfile = z.infer<typeof hardwareProfileSchema>

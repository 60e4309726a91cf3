/**
 * The ingest's ladder: for each accepted publish one LiveTranscode (ffmpeg ABR ladder → LL-HLS
 * packager) that relays pull from over the ingest's HTTP server, and a DvrArchive that gets every
 * finished segment at once. When the publish ends (or its ffmpeg dies) the archive is closed as a
 * VOD and a `dvr.finalize` job is queued.
 */
import {readFileSync} from 'node:fs'

import {Queue} from 'bullmq'
import {Counter} from 'prom-client'

import type {ComponentContext} from '../platform/component.js'
import type {AcceptedPublish, LadderLoad, OriginResponse, PublishHooks, PublishHooksFactory} from './rtmp-ingest.js'
import type {Logger} from '../platform/logger.js'
import {bullConnection} from '../platform/redis.js'
import {DVR_FINALIZE_JOB_OPTIONS, dvrFinalizeJobId, QUEUE_PREFIX, type JobData, type JobResult} from '../jobs/types.js'
import {DvrArchive, type ArchivedRendition} from '../vods/dvr-archive.js'
import {LiveTranscode} from '../hls/live-transcode.js'
import type {LlHlsPackager} from '../hls/llhls.js'

export interface LiveLadderOptions {
  ffmpegPath?: string
}

interface LiveStream {
  publish: AcceptedPublish
  transcode: LiveTranscode
  archive: DvrArchive
  /** ffmpeg's CPU (µs) at the last look, counted into the ingest's load. */
  cpuMicros: number
  ending: Promise<void> | undefined
}

/** SIGINT → SIGKILL grace for a ladder whose publish ended. */
const STOP_TIMEOUT_MS = 2000

/** Linux clock ticks (USER_HZ): 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100

/** utime + stime of a process (µs); undefined once it is gone. */
function processCpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

/** The master playlist's view of the ladder, from the packager (codecs and size from the init segments). */
export function archivedRenditions(packager: LlHlsPackager): ArchivedRendition[] {
  return packager.renditions.map((r) => {
    const tracks = packager.initSegment(r.name)?.tracks ?? []
    const video = tracks.find((t) => t.kind === 'video')
    const codecs = tracks.map((t) => t.codec).filter((c): c is string => c !== undefined)
    return {
      name: r.name,
      bandwidth: r.bandwidth,
      ...(video?.width !== undefined && video.height !== undefined ? {resolution: `${video.width}x${video.height}`} : {}),
      ...(codecs.length > 0 ? {codecs: codecs.join(',')} : {}),
      frameRate: r.fps,
    }
  })
}

/** The hooks the ingest runs its ladder through (components/ingest.ts plugs them in). */
export function liveLadder(options: LiveLadderOptions = {}): PublishHooksFactory {
  return (ctx: ComponentContext<'ingest'>): PublishHooks => {
    const {env, metrics} = ctx
    const log: Logger = ctx.log.child({module: 'ladder'})
    const storage = ctx.storage()
    const finalizeQueue = new Queue<JobData['dvr.finalize'], JobResult['dvr.finalize']>('dvr.finalize', {
      connection: bullConnection(ctx.redisEndpoint),
      prefix: QUEUE_PREFIX,
    })
    finalizeQueue.on('error', (error) => log.debug({err: error.message}, 'bullmq queue error'))
    const live = new Map<string, LiveStream>()
    let endedCpuMicros = 0

    const archived = new Counter({name: 'shing_ingest_dvr_segments_total', help: 'Segments archived to S3', registers: [metrics.registry]})
    const archiveFailures = new Counter({name: 'shing_ingest_dvr_failures_total', help: 'DVR uploads that failed for good', registers: [metrics.registry]})
    const deaths = new Counter({name: 'shing_ingest_transcode_failures_total', help: 'Ladders whose ffmpeg died while the publish was live', registers: [metrics.registry]})
    metrics.gauge('shing_ingest_transcodes', 'Live ladders (ffmpeg processes) on this ingest', () => live.size)
    // Below 1 the box cannot keep up: viewers fall behind and the ingest should take no more.
    metrics.gauge('shing_ingest_transcode_speed_min', 'The slowest live ladder, media seconds per wall second (0: none)', () => {
      const speeds = [...live.values()].map((s) => s.transcode.progress?.speed ?? 0)
      return speeds.length === 0 ? 0 : Math.min(...speeds)
    })

    const sampleCpu = (stream: LiveStream): void => {
      const now = processCpuMicros(stream.transcode.pid)
      if (now !== undefined) stream.cpuMicros = now
    }

    const start = (publish: AcceptedPublish): LiveStream => {
      const {channel, state} = publish
      const transcode = new LiveTranscode({
        profile: env.profile,
        input: publish.inputUrl,
        // The publisher is gone when we stop it: ffmpeg has nothing left to flush but what it holds,
        // and it sometimes sits in its RTMP read for seconds after SIGINT; the VOD should not wait.
        stopTimeoutMs: STOP_TIMEOUT_MS,
        ...(options.ffmpegPath === undefined ? {} : {ffmpegPath: options.ffmpegPath}),
      })
      const archive = new DvrArchive(storage, channel, state.streamId, log.child({channel, streamId: state.streamId}))
      const stream: LiveStream = {publish, transcode, archive, cpuMicros: 0, ending: undefined}
      const {packager} = transcode
      const archiveFailed = (): void => archiveFailures.inc()
      // setInit comes once per rendition (one init per ffmpeg output).
      packager.on('init', ({rendition, bytes}) => void archive.putInit(rendition, bytes).catch(archiveFailed))
      packager.on('segment', (segment) => {
        const name = `seg${segment.msn}.m4s`
        const meta = {msn: segment.msn, duration: segment.duration, name, startedAt: new Date(segment.programDateTime).toISOString()}
        archive.putSegment(segment.rendition, meta, segment.bytes).then(() => archived.inc(), archiveFailed)
      })
      transcode.on('error', (error) => log.error({channel, streamId: state.streamId, err: error.message}, 'ladder failed'))
      transcode.on('end', ({code, signal}) => {
        // Ours to stop (the publish ended): nothing to do. Otherwise ffmpeg left by itself: the
        // publisher went away (its EOF), or ffmpeg died. Either way the publish is over.
        if (stream.ending !== undefined) return
        if (transcode.error !== undefined) deaths.inc()
        log.info({channel, streamId: state.streamId, code, signal}, 'ffmpeg exited while the publish was live')
        publish.end(transcode.error === undefined ? 'ffmpeg ended' : 'ffmpeg died')
      })
      return stream
    }

    const finish = async (stream: LiveStream): Promise<void> => {
      const {transcode, archive, publish} = stream
      const {channel, state} = publish
      sampleCpu(stream)
      await transcode.stop()
      // Relays see the channel offline already (its state is released): stop serving it.
      if (live.get(channel) === stream) live.delete(channel)
      endedCpuMicros += stream.cpuMicros
      // The packager has ended: its last segments are queued for upload; finish() waits for them.
      const renditions = archivedRenditions(transcode.packager)
      const {segments} = await archive.finish(renditions)
      log.info({channel, streamId: state.streamId, segments, failedUploads: archive.failedUploads}, 'broadcast archived')
      if (segments === 0) return
      await finalizeQueue.add('dvr.finalize', {streamId: state.streamId}, {...DVR_FINALIZE_JOB_OPTIONS, jobId: dvrFinalizeJobId(state.streamId)})
      log.info({channel, streamId: state.streamId}, 'dvr.finalize queued')
    }

    return {
      onPublishAccepted: async (publish) => {
        const previous = live.get(publish.channel)
        // A reconnect while the last broadcast still winds down: that one is closing on its own.
        if (previous !== undefined && previous.ending === undefined) previous.publish.end('superseded')
        const stream = start(publish)
        live.set(publish.channel, stream)
        log.info({channel: publish.channel, streamId: publish.state.streamId, pid: stream.transcode.pid}, 'ladder started')
      },
      onPublishEnded: async (publish) => {
        const stream = live.get(publish.channel)
        if (stream === undefined || stream.publish.state.streamId !== publish.state.streamId) return
        stream.ending ??= finish(stream).finally(() => {
          if (live.get(publish.channel) === stream) live.delete(publish.channel)
        })
        await stream.ending
      },
      serve: async (channel, path, query): Promise<OriginResponse | undefined> => {
        const stream = live.get(channel)
        if (stream === undefined) return undefined
        return stream.transcode.packager.handle(path, query)
      },
      load: (): LadderLoad => {
        let micros = endedCpuMicros
        for (const stream of live.values()) {
          sampleCpu(stream)
          micros += stream.cpuMicros
        }
        return {extraCpuMicros: micros}
      },
      close: async () => {
        await Promise.allSettled([...live.values()].map((s) => s.ending ?? finish(s)))
        await finalizeQueue.close()
      },
    }
  }
}

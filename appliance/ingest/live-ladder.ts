/**
 * The ingest's ladder: for each accepted publish one LiveTranscode (ffmpeg ABR ladder → LL-HLS
 * packager) that relays pull from over the ingest's HTTP server, and a DvrArchive that gets every
 * finished segment at once. When the publish ends (or its ffmpeg dies) the archive is closed as a
 * VOD and a `dvr.finalize` job is queued. Every second it measures how the ladders keep up: when
 * the box falls behind realtime, the ingest takes no new publish, and a running stream gives up
 * its top rendition (its ffmpeg restarts without it) rather than every rendition stalling.
 */
import {readFileSync} from 'node:fs'

import {Counter} from 'prom-client'

import {sfuRpcToken, type Rendition} from '../contract/index.js'
import {JobQueues} from '../jobs/queues.js'
import {ladderRungs, type RealtimeOutput} from '../hls/ladder.js'
import {LiveTranscode} from '../hls/live-transcode.js'
import {LlHlsPackager, packagerRenditions} from '../hls/llhls.js'
import type {ComponentContext} from '../platform/component.js'
import type {Logger} from '../platform/logger.js'
import {startRealtimeSender, type RealtimeSender} from '../realtime/sender.js'
import {DvrArchive, type ArchivedRendition} from '../vods/dvr-archive.js'
import {BoxCpu, CapacityMonitor, type CapacityOptions, type CapacityState} from './capacity.js'
import type {AcceptedPublish, LadderLoad, OriginResponse, PublishHooks, PublishHooksFactory} from './rtmp-ingest.js'

export interface LiveLadderOptions {
  ffmpegPath?: string
  /** Tests drive the capacity monitor with shorter windows. */
  capacity?: CapacityOptions
}

interface LiveStream {
  publish: AcceptedPublish
  transcode: LiveTranscode
  packager: LlHlsPackager
  archive: DvrArchive
  /** CPU (µs) of this stream's ffmpeg processes so far, the ones already replaced included. */
  cpuMicros: number
  /** CPU of ffmpeg processes this stream ran before the current one. */
  previousCpuMicros: number
  /** Media seconds written by ffmpeg processes this stream ran before the current one. */
  previousOutTime: number
  /** A shed in progress (the old ffmpeg stopping, the new one starting). */
  shedding: Promise<void> | undefined
  /** The ffmpeg a shed is stopping: its end is not the publish's. */
  retired: LiveTranscode | undefined
  /** Renditions the stream started with (a shed stream runs fewer). */
  packagerRungs: number
  ending: Promise<void> | undefined
  /** Real-time playback's forwarding to an SFU, for a channel that has it on. */
  realtime: RealtimeSender | undefined
}

/** SIGINT → SIGKILL grace for a ladder whose publish ended. */
const STOP_TIMEOUT_MS = 2000
/** How often the ladders' speed and the box's CPU are sampled. */
const SAMPLE_EVERY_MS = 1000

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
      ...(r.fps > 0 ? {frameRate: r.fps} : {}),
    }
  })
}

/** The hooks the ingest runs its ladder through (components/ingest.ts plugs them in). */
export function liveLadder(options: LiveLadderOptions = {}): PublishHooksFactory {
  return (ctx: ComponentContext<'ingest'>): PublishHooks => {
    const {env, metrics} = ctx
    const log: Logger = ctx.log.child({module: 'ladder'})
    const storage = ctx.storage()
    const jobs = new JobQueues(ctx.redisEndpoint, ctx.redis, log)
    const live = new Map<string, LiveStream>()
    /** Publishes whose start awaits (the real-time sender), and those of them that ended meanwhile. */
    const starting = new Set<string>()
    const endedEarly = new Set<string>()
    let endedCpuMicros = 0
    const cpu = new BoxCpu()
    const capacity = new CapacityMonitor(options.capacity)
    /** What the ingest goes by (measured, and degraded while a stream runs shed). */
    let state: CapacityState = {full: false, behind: []}
    /** What the last samples measured. */
    let measured: CapacityState = {full: false, behind: []}

    const archived = new Counter({name: 'shing_ingest_dvr_segments_total', help: 'Segments archived to S3', registers: [metrics.registry]})
    const archiveFailures = new Counter({name: 'shing_ingest_dvr_failures_total', help: 'DVR uploads that failed for good', registers: [metrics.registry]})
    const deaths = new Counter({name: 'shing_ingest_transcode_failures_total', help: 'Ladders whose ffmpeg died while the publish was live', registers: [metrics.registry]})
    const shed = new Counter({name: 'shing_ingest_renditions_shed_total', help: 'Top renditions given up by running streams because the box fell behind realtime', registers: [metrics.registry]})
    metrics.gauge('shing_ingest_transcodes', 'Live ladders (ffmpeg processes) on this ingest', () => live.size)
    // Below 1 the box cannot keep up: viewers fall behind and the ingest should take no more.
    metrics.gauge('shing_ingest_transcode_speed_min', 'The slowest live ladder, media seconds per wall second (0: none)', () => {
      const speeds = [...live.values()].map((s) => s.transcode.progress?.speed ?? 0)
      return speeds.length === 0 ? 0 : Math.min(...speeds)
    })
    metrics.gauge('shing_ingest_behind_realtime', '1 while a live ladder falls behind realtime or the box has no CPU to spare', () => (measured.full ? 1 : 0))
    metrics.gauge('shing_ingest_full', '1 while the ingest takes no new publish (behind realtime, or a running stream gave up renditions)', () => (state.full ? 1 : 0))
    metrics.gauge('shing_ingest_realtime_packets', 'RTP packets of real-time playback forwarded to SFUs by the streams live now', () =>
      [...live.values()].reduce((sum, stream) => sum + (stream.realtime?.forwarded() ?? 0), 0),
    )
    metrics.gauge('shing_ingest_box_cpu', "The box's CPU share busy over the last seconds (every process on it)", () => state.boxBusy ?? 0)

    const sampleCpu = (stream: LiveStream): void => {
      const now = processCpuMicros(stream.transcode.pid)
      if (now !== undefined) stream.cpuMicros = stream.previousCpuMicros + now
    }

    const wire = (stream: LiveStream, transcode: LiveTranscode): void => {
      const {channel, state: streamState} = stream.publish
      transcode.on('error', (error) => log.error({channel, streamId: streamState.streamId, err: error.message}, 'ladder failed'))
      transcode.on('end', ({code, signal}) => {
        // Ours to stop (the publish ended, or a shed replaced it): nothing to do. Otherwise ffmpeg
        // left by itself: the publisher went away (its EOF), or ffmpeg died. The publish is over.
        if (stream.ending !== undefined || stream.transcode !== transcode || stream.retired === transcode) return
        if (transcode.error !== undefined) deaths.inc()
        log.info({channel, streamId: streamState.streamId, code, signal}, 'ffmpeg exited while the publish was live')
        stream.publish.end(transcode.error === undefined ? 'ffmpeg ended' : 'ffmpeg died')
      })
    }

    const newTranscode = (publish: AcceptedPublish, extra: {packager: LlHlsPackager; rungs?: Rendition[]; realtime?: RealtimeOutput}): LiveTranscode =>
      new LiveTranscode({
        profile: env.profile,
        input: publish.inputUrl,
        tracks: publish.tracks,
        ...extra,
        // The publisher is gone when we stop it: ffmpeg has nothing left to flush but what it holds,
        // and it sometimes sits in its RTMP read for seconds after SIGINT; the VOD should not wait.
        stopTimeoutMs: STOP_TIMEOUT_MS,
        ...(options.ffmpegPath === undefined ? {} : {ffmpegPath: options.ffmpegPath}),
      })

    const start = (publish: AcceptedPublish, realtime: RealtimeSender | undefined): LiveStream => {
      const {channel, state: streamState} = publish
      // The stream's packager outlives any one ffmpeg (a shed replaces the ffmpeg, not the playlists).
      const packager = new LlHlsPackager({
        renditions: packagerRenditions(ladderRungs(env.profile, publish.tracks)),
        segmentSeconds: env.profile.hls.segmentSeconds,
        partSeconds: env.profile.hls.partSeconds,
      })
      const transcode = newTranscode(publish, {packager, ...(realtime === undefined ? {} : {realtime: realtime.output})})
      const archive = new DvrArchive(storage, channel, streamState.streamId, log.child({channel, streamId: streamState.streamId}))
      const stream: LiveStream = {
        publish,
        transcode,
        packager,
        archive,
        cpuMicros: 0,
        previousCpuMicros: 0,
        previousOutTime: 0,
        shedding: undefined,
        retired: undefined,
        packagerRungs: transcode.rungs.length,
        ending: undefined,
        realtime,
      }
      const archiveFailed = (): void => archiveFailures.inc()
      // setInit comes once per rendition and encode (a restarted encode sends the same bytes again).
      packager.on('init', ({rendition, bytes}) => void archive.putInit(rendition, bytes).catch(archiveFailed))
      packager.on('segment', (segment) => {
        const name = `seg${segment.msn}.m4s`
        const meta = {msn: segment.msn, duration: segment.duration, name, startedAt: new Date(segment.programDateTime).toISOString(), discontinuity: segment.discontinuity}
        archive.putSegment(segment.rendition, meta, segment.bytes).then(() => archived.inc(), archiveFailed)
      })
      wire(stream, transcode)
      return stream
    }

    /** Restarts the stream's ffmpeg without one rendition (the top one, or the next for a stream in real time); the packager carries on with the rest. */
    const shedTop = async (stream: LiveStream): Promise<void> => {
      const old = stream.transcode
      // A stream played in real time keeps its top rendition (the one real time carries, encoded
      // for it): the next one goes instead. No rendition that stays changes how it is encoded, so
      // its players and its recording keep its init segment.
      const drop = stream.realtime !== undefined ? 1 : 0
      const dropped = old.rungs[drop]
      const rest = old.rungs.filter((_, i) => i !== drop)
      if (dropped === undefined || rest.length === 0) return
      const {channel, state: streamState} = stream.publish
      const speed = capacity.speed(`${channel}/${streamState.streamId}`, Date.now())
      sampleCpu(stream)
      stream.previousCpuMicros = stream.cpuMicros
      stream.previousOutTime += old.progress?.outTime ?? 0
      stream.retired = old
      shed.inc()
      await old.stop()
      if (stream.ending !== undefined) return
      stream.packager.restartEncode(rest.map((r) => r.name))
      stream.packager.dropRendition(dropped.name)
      const transcode = newTranscode(stream.publish, {packager: stream.packager, rungs: rest, ...(stream.realtime === undefined ? {} : {realtime: stream.realtime.output})})
      stream.transcode = transcode
      wire(stream, transcode)
      log.warn(
        {channel, streamId: streamState.streamId, dropped: dropped.name, kept: rest.map((r) => r.name), speed, boxCpu: state.boxBusy},
        `the box fell behind realtime: ${channel} gives up its ${dropped.name} rendition so the others keep up (add an ingest box, or lower hardware.ingestMaxLadders)`,
      )
    }

    const finish = async (stream: LiveStream): Promise<void> => {
      const {archive, publish, packager} = stream
      const {channel, state: streamState} = publish
      jobs.enqueue('channel.event', {channel, event: 'offline', streamId: streamState.streamId, at: new Date().toISOString()}).catch((error: unknown) => {
        log.warn({channel, err: (error as Error).message}, 'could not queue the went-offline event')
      })
      await stream.shedding
      sampleCpu(stream)
      await stream.transcode.stop()
      await stream.realtime?.close().catch((error: unknown) => log.warn({channel, err: (error as Error).message}, 'realtime: not closed cleanly'))
      packager.end()
      // Relays see the channel offline already (its state is released): stop serving it.
      if (live.get(channel) === stream) live.delete(channel)
      endedCpuMicros += stream.cpuMicros
      // The packager has ended: its last segments are queued for upload; finish() waits for them.
      const {segments} = await archive.finish(archivedRenditions(packager))
      log.info({channel, streamId: streamState.streamId, segments, failedUploads: archive.failedUploads}, 'broadcast archived')
      if (segments === 0) return
      await jobs.enqueue('dvr.finalize', {streamId: streamState.streamId})
      log.info({channel, streamId: streamState.streamId}, 'dvr.finalize queued')
    }

    const idOf = (stream: LiveStream): string => `${stream.publish.channel}/${stream.publish.state.streamId}`
    /** A stream that gave up renditions is degraded: the box takes nothing new until it ended. */
    const degraded = (): number => [...live.values()].filter((s) => s.ending === undefined && s.transcode.rungs.length < s.packagerRungs).length
    const sampler = setInterval(() => {
      const now = Date.now()
      const streams = [...live.values()].filter((s) => s.ending === undefined && s.shedding === undefined)
      for (const s of streams) sampleCpu(s)
      capacity.observe(now, {
        boxBusy: cpu.sample(),
        ladders: streams.map((s) => ({id: idOf(s), outTime: s.previousOutTime + (s.transcode.progress?.outTime ?? 0), rungs: s.transcode.rungs.length, cpuMicros: s.cpuMicros})),
      })
      measured = capacity.state(now)
      const shedStreams = degraded()
      const next: CapacityState =
        !measured.full && shedStreams > 0 ? {...measured, full: true, reason: `${shedStreams} running stream(s) gave up renditions to keep up`} : measured
      if (next.full !== state.full) {
        if (next.full) log.warn({reason: next.reason, behind: next.behind, boxCpu: next.boxBusy}, `no more publishes on this ingest: ${next.reason}`)
        else log.info({boxCpu: next.boxBusy}, 'the ladders keep up again: taking publishes')
      }
      state = next
      const candidate = capacity.shedCandidate(now)
      const stream = streams.find((s) => idOf(s) === candidate)
      if (stream !== undefined) {
        capacity.recordShed(now)
        stream.shedding = shedTop(stream)
          .catch((error: unknown) => log.error({channel: stream.publish.channel, err: error}, 'shedding a rendition failed'))
          .finally(() => {
            stream.shedding = undefined
          })
      }
    }, SAMPLE_EVERY_MS)
    sampler.unref()

    return {
      onPublishAccepted: async (publish) => {
        const previous = live.get(publish.channel)
        // A reconnect while the last broadcast still winds down: that one is closing on its own.
        if (previous !== undefined && previous.ending === undefined) previous.publish.end('superseded')
        // Real-time playback where the channel has it on (and there is video to send).
        starting.add(publish.state.streamId)
        const realtime =
          publish.realtime && publish.tracks.video
            ? await startRealtimeSender({redis: ctx.redis, token: sfuRpcToken(ctx.secret('streamKeySecret')), log}, publish.channel, publish.state.streamId, publish.tracks).catch((error: unknown) => {
                log.warn({channel: publish.channel, err: (error as Error).message}, 'realtime: could not start; the broadcast plays over LL-HLS only')
                return undefined
              })
            : undefined
        starting.delete(publish.state.streamId)
        // Ended while the sender was being set up: nothing starts.
        if (endedEarly.delete(publish.state.streamId)) {
          await realtime?.close().catch(() => undefined)
          return
        }
        const stream = start(publish, realtime)
        live.set(publish.channel, stream)
        log.info({channel: publish.channel, streamId: publish.state.streamId, pid: stream.transcode.pid, renditions: stream.transcode.rungs.map((r) => r.name)}, 'ladder started')
        // Followers and webhooks hear of it from a worker; Redis away must not stop the broadcast.
        jobs.enqueue('channel.event', {channel: publish.channel, event: 'live', streamId: publish.state.streamId, at: publish.state.since}).catch((error: unknown) => {
          log.warn({channel: publish.channel, err: (error as Error).message}, 'could not queue the went-live event')
        })
      },
      onPublishEnded: async (publish) => {
        const stream = live.get(publish.channel)
        if (stream === undefined) {
          // Its start may still be under way (the real-time sender is being set up): it stops there.
          if (starting.has(publish.state.streamId)) endedEarly.add(publish.state.streamId)
          return
        }
        if (stream.publish.state.streamId !== publish.state.streamId) return
        stream.ending ??= finish(stream).finally(() => {
          if (live.get(publish.channel) === stream) live.delete(publish.channel)
        })
        await stream.ending
      },
      serve: async (channel, path, query): Promise<OriginResponse | undefined> => {
        const stream = live.get(channel)
        if (stream === undefined) return undefined
        return stream.packager.handle(path, query)
      },
      load: (): LadderLoad => {
        let micros = endedCpuMicros
        for (const stream of live.values()) {
          sampleCpu(stream)
          micros += stream.cpuMicros
        }
        const headroom = state.full ? 0 : capacity.headroom(Date.now())
        return {extraCpuMicros: micros, capacity: state, ...(headroom === undefined ? {} : {headroom})}
      },
      capacity: () => state,
      close: async () => {
        clearInterval(sampler)
        await Promise.allSettled([...live.values()].map((s) => s.ending ?? finish(s)))
        await jobs.close()
      },
    }
  }
}

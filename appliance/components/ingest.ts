import {once} from 'node:events'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import NodeMediaServer from 'node-media-server'
import nmsContext from 'node-media-server/src/core/context.js'
import nmsLogger from 'node-media-server/src/core/logger.js'

import type {ComponentDef} from '../component.js'
import {mongoCheck, redisCheck, s3Check} from '../lib/checks.js'
import {createHttpServer, listen, type HealthCheck} from '../lib/http-server.js'
import type {Logger} from '../lib/logger.js'
import {startHeartbeat} from '../lib/registry.js'

/** Publishers still connected (a disconnected one is kept for a resume grace period: not live). */
function livePublishes(): number {
  let count = 0
  for (const broadcast of nmsContext.broadcasts.values()) {
    if (broadcast.publisher !== null && broadcast.publisher.endTime === 0) count += 1
  }
  return count
}

/** node-media-server prints plain text with console.log: route it into our JSON log instead. */
function captureNmsLogs(log: Logger): void {
  const levels = {trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', error: 'error'} as const
  nmsLogger.log = (message: string, level = 'info') => {
    const method = levels[level as keyof typeof levels] ?? 'info'
    log[method](message)
  }
}

/**
 * Ingest: node-media-server takes RTMP from OBS; the ladder, key auth and DVR come in issue 5.
 * It registers with its live publishes and ladder slots (the profile's ingest.maxLadders).
 */
export const ingest: ComponentDef<'ingest'> = {
  name: 'ingest',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey'],
  start: async (ctx) => {
    const {log, metrics, redis, env} = ctx
    const maxLadders = env.profile.ingest.maxLadders
    const mongo = ctx.mongo()
    const storage = ctx.storage()
    captureNmsLogs(log.child({module: 'nms'}))

    // Its store (relay tasks, history) is per process: nothing in it must outlive the container.
    const store = await mkdtemp(path.join(os.tmpdir(), 'shing-ingest-'))
    const nms = new NodeMediaServer({
      bind: env.SHING_BIND_HOST,
      rtmp: {port: ctx.ports.rtmp},
      store: {path: store},
      record: {auto: false, path: path.join(store, 'record')},
      notify: {url: ''},
      webadmin: {enable: false},
    })
    const rtmpServer = nms.rtmpServer.tcpServer
    if (rtmpServer === undefined) throw new Error('node-media-server made no RTMP server')
    const listening = once(rtmpServer, 'listening')
    await nms.run()
    await listening
    log.info({port: ctx.ports.rtmp}, 'rtmp listening')

    const load = (): {streams: number; slotsUsed: number; slotsFree: number} => {
      const streams = livePublishes()
      return {streams, slotsUsed: Math.min(streams, maxLadders), slotsFree: Math.max(0, maxLadders - streams)}
    }
    metrics.gauge('shing_ingest_streams', 'Live RTMP publishes on this ingest', () => load().streams)
    metrics.gauge('shing_ingest_slots_used', 'Ladder slots in use', () => load().slotsUsed)
    metrics.gauge('shing_ingest_slots_free', 'Ladder slots free (profile ingest.maxLadders)', () => load().slotsFree)

    const rtmpCheck: HealthCheck = {
      name: 'rtmp',
      run: async () => {
        if (!rtmpServer.listening) throw new Error('RTMP server is not listening')
      },
    }
    const app = createHttpServer({component: 'ingest', checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage), rtmpCheck], metrics, log})
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})

    const heartbeat = startHeartbeat({
      redis,
      role: 'ingest',
      id: ctx.id,
      host: ctx.host,
      ports: {rtmp: ctx.ports.rtmp, http: ctx.ports.http},
      load: () => ({...load(), viewers: 0, egressBitsPerSecond: 0}),
      log,
    })
    // A new publish changes where the next broadcaster should go: say so now, not at the next beat.
    nms.on('postPublish', (session) => {
      log.info({stream: session.streamPath, ip: session.ip}, 'publish started')
      // The publisher is set just after this event fires.
      setImmediate(() => void heartbeat.beat())
    })
    nms.on('donePublish', (session) => {
      log.info({stream: session.streamPath}, 'publish ended')
      void heartbeat.beat()
    })

    return {
      stop: async () => {
        await heartbeat.stop()
        await nms.stop()
        await app.close()
        await rm(store, {recursive: true, force: true})
      },
    }
  },
}

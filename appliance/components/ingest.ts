/** Ingest: RTMP from OBS, each accepted publish transcoded by the live ladder (ingest/). */
import {liveLadder} from '../ingest/live-ladder.js'
import {startIngest} from '../ingest/rtmp-ingest.js'
import type {ComponentDef} from '../platform/component.js'

export const ingest: ComponentDef<'ingest'> = {
  name: 'ingest',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey', 'streamKeySecret'],
  start: (ctx) => startIngest(ctx, liveLadder()),
}

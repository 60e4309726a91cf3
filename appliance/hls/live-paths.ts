/**
 * The HLS paths a relay serves (the layout in contract.ts), parsed from a request URL. Anything
 * else is refused before it costs a Redis lookup or an upstream request.
 */
import {CHANNEL_PATTERN, LIVE_PREFIX} from '../contract/index.js'

export type LiveObjectKind = 'master' | 'playlist' | 'init' | 'segment' | 'part'

/** LL-HLS blocking reload: answer once media sequence `msn` (and its part `part`) exists. */
export interface BlockingReload {
  msn: number
  part: number | undefined
}

export interface LivePath {
  channel: string
  /** Below /live/<channel>/, e.g. 720p/seg12.m4s: the same path at the origin. */
  path: string
  kind: LiveObjectKind
  rendition: string | undefined
  /** Only for media playlists that carried _HLS_msn. */
  blocking: BlockingReload | undefined
  /** The query to forward upstream ('' or '?…'), normalised so equal requests share one key. */
  query: string
}

export interface LivePathError {
  status: 400 | 404
  message: string
}

/** Rendition names come from the hardware profile's ladder (720p, 1080p60, …). */
const RENDITION = '[a-z0-9][a-z0-9_-]{0,31}'
const objectPatterns: {kind: Exclude<LiveObjectKind, 'master'>; pattern: RegExp}[] = [
  {kind: 'playlist', pattern: new RegExp(`^(${RENDITION})/index\\.m3u8$`)},
  {kind: 'init', pattern: new RegExp(`^(${RENDITION})/init\\.mp4$`)},
  {kind: 'segment', pattern: new RegExp(`^(${RENDITION})/seg\\d{1,10}\\.m4s$`)},
  {kind: 'part', pattern: new RegExp(`^(${RENDITION})/part\\d{1,10}\\.\\d{1,4}\\.m4s$`)},
]

const nonNegativeInt = (value: string | null): number | undefined => (value !== null && /^\d{1,10}$/.test(value) ? Number(value) : undefined)

/** The LL-HLS delivery directives of a media playlist request, checked as the spec says. */
function parseDirectives(params: URLSearchParams): {blocking: BlockingReload | undefined; query: string} | LivePathError {
  const msnText = params.get('_HLS_msn')
  const partText = params.get('_HLS_part')
  const skip = params.get('_HLS_skip')
  if (skip !== null && skip !== 'YES' && skip !== 'v2') return {status: 400, message: `_HLS_skip must be YES or v2, got ${skip}`}
  if (msnText === null && partText !== null) return {status: 400, message: '_HLS_part needs _HLS_msn'}
  let blocking: BlockingReload | undefined
  if (msnText !== null) {
    const msn = nonNegativeInt(msnText)
    if (msn === undefined) return {status: 400, message: `_HLS_msn must be a non-negative integer, got ${msnText}`}
    const part = partText === null ? undefined : nonNegativeInt(partText)
    if (partText !== null && part === undefined) return {status: 400, message: `_HLS_part must be a non-negative integer, got ${partText}`}
    blocking = {msn, part}
  }
  // Rebuilt in a fixed order, without anything else the client added: equal requests, one key.
  const forward = [
    ...(blocking === undefined ? [] : [`_HLS_msn=${blocking.msn}`]),
    ...(blocking?.part === undefined ? [] : [`_HLS_part=${blocking.part}`]),
    ...(skip === null ? [] : [`_HLS_skip=${skip}`]),
  ]
  return {blocking, query: forward.length === 0 ? '' : `?${forward.join('&')}`}
}

/** Parses `/live/<channel>/<path>?<query>` (the raw request URL). */
export function parseLivePath(url: string): LivePath | LivePathError {
  const question = url.indexOf('?')
  const pathname = question === -1 ? url : url.slice(0, question)
  const prefix = `${LIVE_PREFIX}/`
  if (!pathname.startsWith(prefix)) return {status: 404, message: `not under ${prefix}`}
  const rest = pathname.slice(prefix.length)
  const slash = rest.indexOf('/')
  const channel = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? '' : rest.slice(slash + 1)
  if (!CHANNEL_PATTERN.test(channel)) return {status: 404, message: `no such stream: bad channel name`}
  const params = new URLSearchParams(question === -1 ? '' : url.slice(question + 1))

  if (path === 'master.m3u8') return {channel, path, kind: 'master', rendition: undefined, blocking: undefined, query: ''}
  for (const {kind, pattern} of objectPatterns) {
    const match = pattern.exec(path)
    if (match === null) continue
    const rendition = match[1]
    if (kind !== 'playlist') return {channel, path, kind, rendition, blocking: undefined, query: ''}
    const directives = parseDirectives(params)
    if ('status' in directives) return directives
    return {channel, path, kind, rendition, ...directives}
  }
  return {status: 404, message: `no such stream path: ${path || '(empty)'}`}
}

export const isLivePathError = (parsed: LivePath | LivePathError): parsed is LivePathError => 'status' in parsed

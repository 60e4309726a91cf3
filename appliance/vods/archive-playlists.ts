/**
 * Reading a broadcast's archived playlists back (dvr-archive.ts writes them): the master's
 * renditions, and a media playlist's segments with the places where a new encode or a gap begins
 * (EXT-X-DISCONTINUITY), so that the VOD jobs never glue two encodes into one stream.
 */

export interface ArchiveVariant {
  /** As the master lists it: `<rendition>/index.m3u8`. */
  uri: string
  /** The rendition's folder. */
  name: string
  bandwidth: number
  resolution?: string
  codecs?: string
}

export interface ListedSegment {
  /** Object name within the rendition's folder (seg12.m4s). */
  name: string
  duration: number
  /** A new encode or a gap starts here. */
  discontinuity: boolean
}

export interface MediaPlaylist {
  segments: ListedSegment[]
  durationSeconds: number
  /** #EXT-X-ENDLIST: a finished VOD. */
  closed: boolean
}

/** `BANDWIDTH=…,RESOLUTION=…,CODECS="…"` → its attributes (quoted values unquoted). */
function attributes(list: string): Map<string, string> {
  const found = new Map<string, string>()
  for (const m of list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) found.set(m[1]!, m[2]!.replace(/^"|"$/g, ''))
  return found
}

export function parseMasterPlaylist(text: string): ArchiveVariant[] {
  const lines = text.split('\n').map((l) => l.trim())
  const variants: ArchiveVariant[] = []
  for (const [i, line] of lines.entries()) {
    if (!line.startsWith('#EXT-X-STREAM-INF:')) continue
    const uri = lines.slice(i + 1).find((l) => l !== '' && !l.startsWith('#'))
    if (uri === undefined) continue
    const attrs = attributes(line.slice('#EXT-X-STREAM-INF:'.length))
    const resolution = attrs.get('RESOLUTION')
    const codecs = attrs.get('CODECS')
    variants.push({
      uri,
      name: uri.includes('/') ? uri.slice(0, uri.lastIndexOf('/')) : uri,
      bandwidth: Number(attrs.get('BANDWIDTH') ?? 0) || 0,
      ...(resolution === undefined ? {} : {resolution}),
      ...(codecs === undefined ? {} : {codecs}),
    })
  }
  return variants
}

/** The rendition a download is made of: the highest bandwidth (the ladder's top). */
export function bestVariant(variants: readonly ArchiveVariant[]): ArchiveVariant | undefined {
  return [...variants].sort((a, b) => b.bandwidth - a.bandwidth)[0]
}

export function parseMediaPlaylist(text: string): MediaPlaylist {
  const segments: ListedSegment[] = []
  let duration: number | undefined
  let discontinuity = false
  let closed = false
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice('#EXTINF:'.length)) || 0
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true
    else if (line === '#EXT-X-ENDLIST') closed = true
    else if (!line.startsWith('#')) {
      segments.push({name: line, duration: duration ?? 0, discontinuity})
      duration = undefined
      discontinuity = false
    }
  }
  return {segments, durationSeconds: segments.reduce((sum, s) => sum + s.duration, 0), closed}
}

/** The segments cut into runs of one continuous encode each (a discontinuity starts the next run). */
export function continuousRuns<S extends Pick<ListedSegment, 'discontinuity'>>(segments: readonly S[]): S[][] {
  const runs: S[][] = []
  for (const segment of segments) {
    const current = runs.at(-1)
    if (current === undefined || segment.discontinuity) runs.push([segment])
    else current.push(segment)
  }
  return runs
}

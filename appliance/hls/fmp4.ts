import {EventEmitter} from 'node:events'

/**
 * A streaming ISO-BMFF (fragmented MP4) reader for ffmpeg's `-f mp4 -movflags +frag_keyframe+empty_moov`
 * output on a pipe: chunks in, the init segment (ftyp+moov) and each fragment (moof+mdat) out.
 * It reads only what LL-HLS needs: timescales and codecs from the moov, decode time, duration and
 * "starts with a sync sample" from each moof. The media bytes pass through untouched.
 */

export type TrackKind = 'video' | 'audio' | 'other'

export interface TrackInfo {
  id: number
  kind: TrackKind
  timescale: number
  /** RFC 6381 codec string (`avc1.64001f`, `mp4a.40.2`), when the sample entry is one we know. */
  codec?: string
  width?: number
  height?: number
  /** trex defaults, used when a fragment's tfhd/trun leave them out. */
  defaultSampleDuration: number
  defaultSampleFlags: number
}

export interface InitSegment {
  bytes: Buffer
  tracks: TrackInfo[]
}

export interface TrackRun {
  trackId: number
  /** tfdt, in the track's timescale. */
  baseDecodeTime: number
  /** Sum of the sample durations, in the track's timescale. */
  duration: number
  sampleCount: number
  /** The first sample is a sync sample (a keyframe). */
  startsWithSync: boolean
}

export interface Fragment {
  bytes: Buffer
  /** mfhd sequence number. */
  sequence: number
  tracks: TrackRun[]
  /** Of the main track (video when there is one), in seconds. */
  decodeTime: number
  duration: number
  /** The main track's first sample is a keyframe: the fragment can start a segment. */
  keyframe: boolean
}

export class Fmp4Error extends Error {
  override name = 'Fmp4Error'
}

type ReaderEvents = {init: [InitSegment]; fragment: [Fragment]}

/** Boxes that belong to the fragment that follows them (kept in front of its moof). */
const leadingBoxes = new Set(['styp', 'prft', 'emsg', 'sidx'])
/** A box larger than this is a broken stream, not media: refuse it instead of buffering it. */
const maxBoxBytes = 64 * 1024 * 1024
const nonSyncSample = 0x0001_0000

export class Fmp4Reader extends EventEmitter<ReaderEvents> {
  private chunks: Buffer[] = []
  private buffered = 0
  private ftyp: Buffer | undefined
  private init: InitSegment | undefined
  private pendingLead: Buffer[] = []
  private moof: Buffer | undefined

  /** The init segment, once the moov has been read. */
  get initSegment(): InitSegment | undefined {
    return this.init
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    for (;;) {
      const box = this.takeBox()
      if (box === undefined) return
      this.onBox(box.type, box.bytes)
    }
  }

  /** Bytes held that do not make a whole box yet (a cut-off stream leaves some). */
  get pendingBytes(): number {
    return this.buffered
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) {
      this.chunks = [Buffer.concat(this.chunks)]
    }
    return this.chunks[0]!.subarray(0, n)
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    const taken = all.subarray(0, n)
    const rest = all.subarray(n)
    this.chunks = rest.length > 0 ? [rest] : []
    this.buffered -= n
    // A copy, so a kept fragment does not pin the whole pipe chunk it came in.
    return Buffer.from(taken)
  }

  private takeBox(): {type: string; bytes: Buffer} | undefined {
    if (this.buffered < 8) return undefined
    const head = this.peek(Math.min(16, this.buffered))
    let size = head.readUInt32BE(0)
    const type = head.toString('latin1', 4, 8)
    if (size === 1) {
      if (head.length < 16) return undefined
      size = Number(head.readBigUInt64BE(8))
    } else if (size === 0) {
      throw new Fmp4Error(`box ${type} runs to the end of the file: not a streamable fragmented MP4`)
    }
    if (size < 8 || size > maxBoxBytes) throw new Fmp4Error(`box ${type} has an impossible size ${size}`)
    if (this.buffered < size) return undefined
    return {type, bytes: this.take(size)}
  }

  private onBox(type: string, bytes: Buffer): void {
    switch (type) {
      case 'ftyp':
        this.ftyp = bytes
        return
      case 'moov': {
        if (this.ftyp === undefined) throw new Fmp4Error('moov before ftyp')
        this.init = {bytes: Buffer.concat([this.ftyp, bytes]), tracks: parseMoov(bytes)}
        this.emit('init', this.init)
        return
      }
      case 'moof':
        if (this.init === undefined) throw new Fmp4Error('moof before the moov')
        this.moof = bytes
        return
      case 'mdat': {
        const moof = this.moof
        if (moof === undefined) throw new Fmp4Error('mdat without a moof')
        this.moof = undefined
        const lead = this.pendingLead
        this.pendingLead = []
        this.emit('fragment', describeFragment(Buffer.concat([...lead, moof, bytes]), moof, this.init!.tracks))
        return
      }
      default:
        if (leadingBoxes.has(type)) this.pendingLead.push(bytes)
      // free, skip, mfra (the trailer) and unknown boxes carry nothing a live packager needs.
    }
  }
}

interface Box {
  type: string
  /** Start of the payload (after the header) and end of the box, in the buffer. */
  start: number
  end: number
}

function* children(buf: Buffer, start: number, end: number): Generator<Box> {
  let at = start
  while (at + 8 <= end) {
    let size = buf.readUInt32BE(at)
    const type = buf.toString('latin1', at + 4, at + 8)
    let header = 8
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(at + 8))
      header = 16
    } else if (size === 0) {
      size = end - at
    }
    if (size < header || at + size > end) throw new Fmp4Error(`box ${type} overruns its parent`)
    yield {type, start: at + header, end: at + size}
    at += size
  }
}

function child(buf: Buffer, parent: Box, type: string): Box | undefined {
  for (const box of children(buf, parent.start, parent.end)) if (box.type === type) return box
  return undefined
}

function path(buf: Buffer, parent: Box, ...types: string[]): Box | undefined {
  let box: Box | undefined = parent
  for (const type of types) {
    if (box === undefined) return undefined
    box = child(buf, box, type)
  }
  return box
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0')

/** moov → one TrackInfo per trak (timescale from mdhd, kind from hdlr, codec from stsd). */
export function parseMoov(moov: Buffer): TrackInfo[] {
  const root: Box = {type: 'moov', start: 8, end: moov.length}
  const trex = new Map<number, {duration: number; flags: number}>()
  const mvex = child(moov, root, 'mvex')
  if (mvex !== undefined) {
    for (const box of children(moov, mvex.start, mvex.end)) {
      if (box.type !== 'trex') continue
      // version/flags(4) track_ID(4) sample_description_index(4) duration(4) size(4) flags(4)
      trex.set(moov.readUInt32BE(box.start + 4), {
        duration: moov.readUInt32BE(box.start + 12),
        flags: moov.readUInt32BE(box.start + 20),
      })
    }
  }
  const tracks: TrackInfo[] = []
  for (const trak of children(moov, root.start, root.end)) {
    if (trak.type !== 'trak') continue
    const tkhd = child(moov, trak, 'tkhd')
    const mdhd = path(moov, trak, 'mdia', 'mdhd')
    const hdlr = path(moov, trak, 'mdia', 'hdlr')
    if (tkhd === undefined || mdhd === undefined || hdlr === undefined) throw new Fmp4Error('trak without tkhd/mdhd/hdlr')
    const tkhdVersion = moov.readUInt8(tkhd.start)
    const id = moov.readUInt32BE(tkhd.start + (tkhdVersion === 1 ? 20 : 12))
    const mdhdVersion = moov.readUInt8(mdhd.start)
    const timescale = moov.readUInt32BE(mdhd.start + (mdhdVersion === 1 ? 20 : 12))
    const handler = moov.toString('latin1', hdlr.start + 8, hdlr.start + 12)
    const kind: TrackKind = handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other'
    const defaults = trex.get(id) ?? {duration: 0, flags: 0}
    const track: TrackInfo = {id, kind, timescale, defaultSampleDuration: defaults.duration, defaultSampleFlags: defaults.flags}
    const stsd = path(moov, trak, 'mdia', 'minf', 'stbl', 'stsd')
    // stsd: version/flags(4) entry_count(4), then sample entries.
    const entry = stsd === undefined ? undefined : children(moov, stsd.start + 8, stsd.end).next().value
    if (entry !== undefined) Object.assign(track, describeSampleEntry(moov, entry))
    tracks.push(track)
  }
  return tracks
}

function describeSampleEntry(buf: Buffer, entry: Box): Pick<TrackInfo, 'codec' | 'width' | 'height'> {
  if (['avc1', 'avc3', 'hev1', 'hvc1'].includes(entry.type)) {
    // VisualSampleEntry: 6 reserved, 2 data_reference_index, 16 pre-defined/reserved, width(2) height(2) … 78 bytes.
    const width = buf.readUInt16BE(entry.start + 24)
    const height = buf.readUInt16BE(entry.start + 26)
    let codec: string = entry.type
    const avcC = entry.type.startsWith('avc') ? childAt(buf, entry.start + 78, entry.end, 'avcC') : undefined
    if (avcC !== undefined) {
      // configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication
      codec = `${entry.type}.${hex2(buf[avcC.start + 1]!)}${hex2(buf[avcC.start + 2]!)}${hex2(buf[avcC.start + 3]!)}`
    }
    return {codec, width, height}
  }
  if (entry.type === 'mp4a') {
    // AudioSampleEntry is 28 bytes, then esds.
    const esds = childAt(buf, entry.start + 28, entry.end, 'esds')
    return {codec: esds === undefined ? 'mp4a.40.2' : mp4aCodec(buf, esds)}
  }
  return {codec: entry.type}
}

function childAt(buf: Buffer, start: number, end: number, type: string): Box | undefined {
  for (const box of children(buf, start, end)) if (box.type === type) return box
  return undefined
}

/** esds → `mp4a.<objectTypeIndication hex>.<audio object type>` (e.g. mp4a.40.2 for AAC-LC). */
function mp4aCodec(buf: Buffer, esds: Box): string {
  let at = esds.start + 4
  const readDescriptor = (): {tag: number; start: number; end: number} => {
    const tag = buf[at]!
    at += 1
    let size = 0
    for (let i = 0; i < 4; i += 1) {
      const b = buf[at]!
      at += 1
      size = (size << 7) | (b & 0x7f)
      if ((b & 0x80) === 0) break
    }
    return {tag, start: at, end: at + size}
  }
  const es = readDescriptor()
  if (es.tag !== 0x03) return 'mp4a.40.2'
  const flags = buf[es.start + 2]!
  at = es.start + 3
  if (flags & 0x80) at += 2
  if (flags & 0x40) at += 1 + buf[at]!
  if (flags & 0x20) at += 2
  const config = readDescriptor()
  if (config.tag !== 0x04) return 'mp4a.40.2'
  const objectType = buf[config.start]!
  at = config.start + 13
  let audioObjectType: number | undefined
  if (at < config.end) {
    const specific = readDescriptor()
    if (specific.tag === 0x05) {
      audioObjectType = buf[specific.start]! >> 3
      if (audioObjectType === 31) audioObjectType = 32 + (((buf[specific.start]! & 0x07) << 3) | (buf[specific.start + 1]! >> 5))
    }
  }
  return `mp4a.${hex2(objectType)}${audioObjectType === undefined ? '' : `.${audioObjectType}`}`
}

/** moof → one TrackRun per traf; the main track (video first) gives time, duration and keyframe. */
export function describeFragment(bytes: Buffer, moof: Buffer, tracks: TrackInfo[]): Fragment {
  const root: Box = {type: 'moof', start: 8, end: moof.length}
  const mfhd = child(moof, root, 'mfhd')
  const sequence = mfhd === undefined ? 0 : moof.readUInt32BE(mfhd.start + 4)
  const runs: TrackRun[] = []
  for (const traf of children(moof, root.start, root.end)) {
    if (traf.type !== 'traf') continue
    const tfhd = child(moof, traf, 'tfhd')
    if (tfhd === undefined) throw new Fmp4Error('traf without tfhd')
    const tfhdFlags = moof.readUInt32BE(tfhd.start) & 0xff_ffff
    const trackId = moof.readUInt32BE(tfhd.start + 4)
    const track = tracks.find((t) => t.id === trackId)
    let at = tfhd.start + 8
    if (tfhdFlags & 0x01) at += 8 // base_data_offset
    if (tfhdFlags & 0x02) at += 4 // sample_description_index
    let defaultDuration = track?.defaultSampleDuration ?? 0
    let defaultFlags = track?.defaultSampleFlags ?? 0
    if (tfhdFlags & 0x08) {
      defaultDuration = moof.readUInt32BE(at)
      at += 4
    }
    if (tfhdFlags & 0x10) at += 4 // default_sample_size
    if (tfhdFlags & 0x20) defaultFlags = moof.readUInt32BE(at)

    const tfdt = child(moof, traf, 'tfdt')
    let baseDecodeTime = 0
    if (tfdt !== undefined) {
      baseDecodeTime = moof.readUInt8(tfdt.start) === 1 ? Number(moof.readBigUInt64BE(tfdt.start + 4)) : moof.readUInt32BE(tfdt.start + 4)
    }
    let duration = 0
    let sampleCount = 0
    let firstFlags: number | undefined
    for (const trun of children(moof, traf.start, traf.end)) {
      if (trun.type !== 'trun') continue
      const flags = moof.readUInt32BE(trun.start) & 0xff_ffff
      const count = moof.readUInt32BE(trun.start + 4)
      let p = trun.start + 8
      if (flags & 0x01) p += 4 // data_offset
      let firstSampleFlags: number | undefined
      if (flags & 0x04) {
        firstSampleFlags = moof.readUInt32BE(p)
        p += 4
      }
      for (let i = 0; i < count; i += 1) {
        let sampleFlags = i === 0 && firstSampleFlags !== undefined ? firstSampleFlags : defaultFlags
        if (flags & 0x100) {
          duration += moof.readUInt32BE(p)
          p += 4
        } else {
          duration += defaultDuration
        }
        if (flags & 0x200) p += 4
        if (flags & 0x400) {
          const own = moof.readUInt32BE(p)
          p += 4
          if (!(i === 0 && firstSampleFlags !== undefined)) sampleFlags = own
        }
        if (flags & 0x800) p += 4
        if (firstFlags === undefined) firstFlags = sampleFlags
      }
      sampleCount += count
    }
    runs.push({trackId, baseDecodeTime, duration, sampleCount, startsWithSync: ((firstFlags ?? defaultFlags) & nonSyncSample) === 0})
  }
  const main = mainTrack(tracks)
  const run = runs.find((r) => r.trackId === main?.id) ?? runs[0]
  if (run === undefined) throw new Fmp4Error('moof without a traf')
  const timescale = tracks.find((t) => t.id === run.trackId)?.timescale ?? 1
  return {
    bytes,
    sequence,
    tracks: runs,
    decodeTime: run.baseDecodeTime / timescale,
    duration: run.duration / timescale,
    keyframe: run.startsWithSync,
  }
}

/** The track a fragment's timing and keyframe come from: video when there is one. */
export function mainTrack(tracks: TrackInfo[]): TrackInfo | undefined {
  return tracks.find((t) => t.kind === 'video') ?? tracks[0]
}

/** Messages between bench/relay.ts and its load clients (bench/lib/relay-load-client.ts, forked with IPC). */

export type ViewerMode = 'hls' | 'flv'

export type ClientCommand =
  /**
   * hls: url is the channel's base (…/live/<channel>/); each viewer reads master.m3u8, then polls
   * the first rendition's playlist every target duration / 2 and fetches each new segment once.
   * flv: url is the HTTP-FLV stream; each viewer holds one long GET.
   */
  | {type: 'start'; mode: ViewerMode; url: string; viewers: number; firstViewer: number; rampMs: number}
  /** Body bytes each viewer received so far. */
  | {type: 'snapshot'}
  /** What each viewer received of these segments (hls). */
  | {type: 'report'; segments: number[]}
  | {type: 'stop'}

export type ClientEvent =
  /** Every viewer received its first bytes (hls: its first whole segment). */
  | {type: 'ready'}
  | {type: 'snapshot'; bytes: number[]; failures: number}
  /**
   * Row-major, viewers × segments: the bytes received of each segment and when it was complete
   * (Date.now(); -1 while not complete or never asked for).
   */
  | {type: 'report'; bytes: number[]; doneAt: number[]; failures: number}
  | {type: 'failed'; message: string}

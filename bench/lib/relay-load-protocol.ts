/** Messages between bench/relay.ts and its load clients (bench/lib/relay-load-client.ts, forked with IPC). */

export type ViewerMode = 'llhls' | 'flv'

export type ClientCommand =
  /**
   * llhls: url is the channel's base (…/live/<channel>/, http: or https:); each viewer reads
   * master.m3u8, the first rendition's playlist and init.mp4, then follows the live edge part by
   * part with blocking reloads (hls.js `lowLatencyMode`). flv: url is the HTTP-FLV stream; each
   * viewer holds one long GET. connectTo: the address to connect to instead of the URL's host
   * (the host still goes in Host and SNI); https is not verified.
   */
  | {type: 'start'; mode: ViewerMode; url: string; connectTo?: string; viewers: number; firstViewer: number; rampMs: number}
  /** Body bytes each viewer received so far. */
  | {type: 'snapshot'}
  /** What each viewer received of these segments, and when it had each of these parts ([msn, part]). */
  | {type: 'report'; segments: number[]; parts: [number, number][]}
  | {type: 'stop'}

export type ClientEvent =
  /** Every viewer received its first bytes (llhls: its first whole part). */
  | {type: 'ready'}
  | {type: 'snapshot'; bytes: number[]; failures: number}
  /**
   * Row-major, viewers × segments: the bytes received of each segment (the sum of its parts) and
   * when it was complete (Date.now() when its last part was; -1 while not complete, never asked
   * for, or begun before the viewer joined); viewers × parts: when each part was complete (-1: not).
   */
  | {type: 'report'; bytes: number[]; doneAt: number[]; partDoneAt: number[]; failures: number}
  | {type: 'failed'; message: string}

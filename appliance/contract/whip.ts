/**
 * WHIP (RFC 9725): an encoder (OBS 30+, GStreamer's whipclientsink, a browser) publishes over
 * WebRTC. It POSTs its SDP offer to WHIP_PATH/<channel> with the stream key as a Bearer token; the
 * web hands the request to the least-loaded ingest with a free slot, which places the session's
 * media on an SFU, takes it from there over plain RTP into the same ladder as RTMP, and answers
 * 201 with the SDP answer and the session's URL (Location). DELETE on that URL ends the broadcast.
 * docs/whip.md tells the whole exchange.
 */
export const WHIP_PATH = '/whip'
export const WHIP_SESSION_PATTERN = /^[A-Za-z0-9_-]{22}$/
/** Where the encoder publishes a channel. */
export const whipUrl = (publicUrl: string, channel: string): string => `${publicUrl.replace(/\/$/, '')}${WHIP_PATH}/${encodeURIComponent(channel)}`
/** A session's URL (the Location the ingest answers; the web forwards DELETE by the ingest id in it). */
export const whipSessionPath = (channel: string, ingestId: string, session: string): string =>
  `${WHIP_PATH}/${encodeURIComponent(channel)}/${encodeURIComponent(ingestId)}/${session}`
/** An offer is a few kilobytes; more is not an offer. */
export const WHIP_OFFER_MAX_BYTES = 64 * 1024
/** What a refusal for want of room asks the encoder to wait before it tries again (Retry-After). */
export const WHIP_RETRY_AFTER_SECONDS = 30

/**
 * Docker multiplexes stdout and stderr of a non-TTY container into frames: an 8-byte header
 * (stream, 0, 0, 0, big-endian length) then the payload. Service logs come that way.
 */
export function demuxLogs(buffer: Buffer): string {
  let out = ''
  let offset = 0
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset]
    const length = buffer.readUInt32BE(offset + 4)
    if (stream === undefined || stream > 2 || offset + 8 + length > buffer.length) {
      return out + buffer.subarray(offset).toString('utf8') // not framed (a TTY): plain text
    }
    out += buffer.subarray(offset + 8, offset + 8 + length).toString('utf8')
    offset += 8 + length
  }
  return out
}

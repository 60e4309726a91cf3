/** JSON.parse that answers undefined instead of throwing: for values read back from Redis or a peer. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

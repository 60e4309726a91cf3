/** The one waiting loop: ask until there is an answer, or say what was waited for and why it stopped. */
export class PollTimeoutError extends Error {
  override name = 'PollTimeoutError'
}

export interface PollOptions {
  /** What is waited for, for the error: "shing_web to become healthy". */
  what: string
  timeoutMs: number
  intervalMs?: number
}

/**
 * Calls `check` until it returns something other than undefined, and returns that. Errors from
 * `check` end the wait at once; a timeout throws PollTimeoutError naming `what` (and the last state).
 */
export async function pollUntil<T>(check: () => Promise<T | undefined>, options: PollOptions & {lastState?: () => string}): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    const answer = await check()
    if (answer !== undefined) return answer
    if (Date.now() >= deadline) {
      const state = options.lastState?.()
      throw new PollTimeoutError(`gave up waiting for ${options.what} after ${Math.round(options.timeoutMs / 1000)} s${state ? ` (${state})` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500))
  }
}

/**
 * Two kinds of failure (as in Shopify CLI): an AbortError is something the user can fix — it
 * prints its message and the next steps, no stack, exit 1. Anything else is a bug of ours.
 */
export class AbortError extends Error {
  override name = 'AbortError'
  readonly actions: string[]
  constructor(message: string, actions: string[] | string = []) {
    super(message)
    this.actions = Array.isArray(actions) ? actions : [actions]
  }
}

/** A failure that is our fault: printed with its stack. */
export class BugError extends Error {
  override name = 'BugError'
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

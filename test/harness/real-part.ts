import type {TestContext} from 'vitest'

/** The real parts the conformance suite proves, in the order it reports them. */
export const realParts = ['node', 'docker', 'swarm', 'redis', 's3', 'mongo-wire', 'smtp', 'mediasoup', 'ffmpeg', 'chromium'] as const
export type RealPart = (typeof realParts)[number]

declare module 'vitest' {
  interface TaskMeta {
    realPart?: {part: RealPart; version: string}
  }
}

/** Records, on the running test, which real part it proved and the version that answered. */
export function markReal(context: TestContext, part: RealPart, version: string): void {
  context.task.meta.realPart = {part, version}
}

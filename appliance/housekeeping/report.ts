import type {HousekeepingRemoval} from '../jobs/types.js'

/** How many names a report gives per kind: enough to see what goes, short enough to print. */
export const HOUSEKEEPING_EXAMPLES = 20

export const removalOf = (names: readonly string[]): HousekeepingRemoval => ({count: names.length, examples: names.slice(0, HOUSEKEEPING_EXAMPLES)})

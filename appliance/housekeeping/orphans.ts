/**
 * Orphaned objects: the bucket is listed, and an object that nothing points at (references.ts) is
 * removed once it is older than the grace period — an upload whose document is not written yet is
 * young, so it stays. What points at objects is read before and again after the listing: an
 * object goes only when it was pointed at by nothing both times, so a document written meanwhile
 * keeps its objects. An error reading MongoDB or S3 fails the run before anything is removed.
 */
import type {Db} from 'mongodb'

import type {HousekeepingOrphans} from '../jobs/types.js'
import type {Logger} from '../platform/logger.js'
import {removeObjectNames, type Storage} from '../platform/storage.js'
import {gatherReferences} from './gather-references.js'
import {bucketObjectKinds, classifyObject, type BucketObjectKind, type References} from './references.js'
import {removalOf} from './report.js'

export interface OrphanSweepOptions {
  now: Date
  graceHours: number
  dryRun: boolean
  /** `<channel>/<streamId>` of archives vod.delete removes after this run (expired VODs): not counted twice. */
  beingDeleted: ReadonlySet<string>
  log: Logger
}

interface Listed {
  name: string
  size: number
  kind: BucketObjectKind
}

export async function sweepOrphans(db: Db, storage: Storage, options: OrphanSweepOptions): Promise<HousekeepingOrphans> {
  const {now, graceHours, dryRun, beingDeleted} = options
  const graceMs = graceHours * 3600 * 1000
  const gather = (): Promise<References> => gatherReferences(db)
  const before = await gather()
  const refs: References = {...before, archives: new Set([...before.archives, ...beingDeleted])}
  const byKind = Object.fromEntries(bucketObjectKinds.map((k) => [k, 0])) as {[K in BucketObjectKind]: number}
  let scanned = 0
  let unknown = 0
  let withinGrace = 0
  let candidates: Listed[] = []
  for await (const item of storage.client.listObjectsV2(storage.bucket, '', true)) {
    const {name, size, lastModified} = item as {name?: string; size?: number; lastModified?: Date}
    if (name === undefined) continue // a common prefix; not with a recursive listing
    scanned += 1
    const verdict = classifyObject(name, refs)
    if (verdict === undefined) unknown += 1
    else if (!verdict.referenced) {
      // No date: treated as new (kept), never as old.
      if (lastModified === undefined || now.getTime() - lastModified.getTime() < graceMs) withinGrace += 1
      else candidates.push({name, size: size ?? 0, kind: verdict.kind})
    }
  }
  if (candidates.length > 0) {
    const after = await gather()
    candidates = candidates.filter((c) => classifyObject(c.name, after)?.referenced === false)
  }
  if (!dryRun && candidates.length > 0) {
    await removeObjectNames(storage, candidates.map((c) => c.name))
  }
  for (const c of candidates) byKind[c.kind] += 1
  const bytes = candidates.reduce((sum, c) => sum + c.size, 0)
  if (candidates.length > 0) {
    options.log.info({dryRun, objects: candidates.length, bytes, byKind, examples: candidates.slice(0, 5).map((c) => c.name)}, dryRun ? 'orphaned objects found (dry run)' : 'orphaned objects removed')
  }
  return {swept: true, graceHours, ...removalOf(candidates.map((c) => c.name)), bytes, byKind, scanned, withinGrace, unknown}
}

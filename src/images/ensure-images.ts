/**
 * The images a stack needs, checked before anything changes: present on the box, served by a
 * registry (pulled, with progress), or — the appliance only — built from this package. An image
 * that is none of these stops `up` before it touches the engine.
 */
import {imagesSchema} from '../config/schema.js'
import type {Engine, ImageProgress} from '../engine/engine.js'
import {AbortError, errorMessage} from '../errors.js'
import {buildApplianceImage, defaultApplianceTag} from './appliance-image.js'

export type ImageKey = keyof typeof imagesSchema.shape

export interface ImageNeed {
  /** Its key under `images:` in shing.yaml. */
  key: ImageKey
  ref: string
}

export type ImageState =
  | {status: 'present'}
  | {status: 'in-registry'}
  /** Not anywhere yet, but `up` builds it from this package. */
  | {status: 'buildable'; registry: string}
  | {status: 'missing'; registry: string}

export type CheckedImage = ImageNeed & {state: ImageState}

export async function checkImages(engine: Engine, needs: readonly ImageNeed[]): Promise<CheckedImage[]> {
  return Promise.all(
    needs.map(async (need): Promise<CheckedImage> => {
      if (await engine.hasImage(need.ref)) return {...need, state: {status: 'present'}}
      const registry = await engine.registryHasImage(need.ref)
      if (registry.available) return {...need, state: {status: 'in-registry'}}
      const buildable = need.key === 'appliance' && need.ref === defaultApplianceTag()
      return {...need, state: {status: buildable ? 'buildable' : 'missing', registry: registry.reason}}
    }),
  )
}

/** What to do about an image that is not on the box, for messages and `--dry-run`. */
export function describeImage(image: CheckedImage): string {
  switch (image.state.status) {
    case 'present':
      return `${image.ref} is on this box`
    case 'in-registry':
      return `pull ${image.ref}`
    case 'buildable':
      return `build ${image.ref} from this package (appliance/Dockerfile)`
    case 'missing':
      return `${image.ref} is neither on this box nor in a registry it can reach (${image.state.registry})`
  }
}

export function missingImagesError(missing: CheckedImage[]): AbortError {
  return new AbortError(
    `These images are not on this box and no registry it can reach has them; nothing was changed:\n${missing.map((m) => `  images.${m.key}: ${describeImage(m)}`).join('\n')}`,
    [
      'Load each one on this box (docker load -i <file>.tar, made with docker save where a registry is reachable)',
      'Or point images.<key> in shing.yaml at an image this box has or can pull',
    ],
  )
}

export type ImageEvent = {image: string; text: string}

/** Pulls and builds what is needed; the caller has checked that nothing is missing. */
export async function provideImages(engine: Engine, images: readonly CheckedImage[], onProgress: (e: ImageEvent) => void): Promise<Array<{ref: string; action: 'pulled' | 'built'}>> {
  const done: Array<{ref: string; action: 'pulled' | 'built'}> = []
  for (const image of images) {
    const report = progressReporter(image.ref, onProgress)
    if (image.state.status === 'in-registry') {
      onProgress({image: image.ref, text: 'pulling'})
      await engine.pullImage(image.ref, report).catch((error: unknown) => {
        throw new AbortError(`Pulling ${image.ref} failed: ${errorMessage(error)}`, ['Check the box reaches its registry, or load the image by hand (docker load)'])
      })
      done.push({ref: image.ref, action: 'pulled'})
    } else if (image.state.status === 'buildable') {
      onProgress({image: image.ref, text: 'building from this package (first time: several minutes)'})
      await buildApplianceImage(engine, {tag: image.ref, onProgress: report})
      done.push({ref: image.ref, action: 'built'})
    }
  }
  return done
}

/** Progress in lines a person reads: each build step, and pulled bytes every 10 %. */
function progressReporter(ref: string, onProgress: (e: ImageEvent) => void): (p: ImageProgress) => void {
  const lastShare = new Map<string, number>()
  return (p) => {
    if (p.kind === 'status') {
      if (/^Step \d+\/\d+|^Successfully|: (Pull complete|Already exists)$|^Digest|^Status/.test(p.text)) onProgress({image: ref, text: p.text})
      return
    }
    if (p.total === undefined || p.total === 0) return
    const share = Math.floor((p.done / p.total) * 10)
    const key = p.id ?? ''
    if (share > (lastShare.get(key) ?? -1)) {
      lastShare.set(key, share)
      onProgress({image: ref, text: `${key ? `${key}: ` : ''}${share * 10}% of ${(p.total / 1e6).toFixed(1)} MB`})
    }
  }
}

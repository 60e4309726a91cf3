/**
 * The logic above the engine port: which images `up` takes as they are, pulls, builds, or stops
 * on. (The adapter calls are exercised against real engines in the integration and e2e suites.)
 */
import {describe, expect, it} from 'vitest'

import type {Engine} from '../../../src/engine/engine.js'
import {defaultApplianceTag} from '../../../src/images/appliance-image.js'
import {checkImages, describeImage, missingImagesError} from '../../../src/images/ensure-images.js'

/** An engine that has some images and a registry that serves others; nothing else is asked of it. */
function engineWith(local: string[], registry: string[]): Engine {
  return {
    hasImage: async (ref: string) => local.includes(ref),
    registryHasImage: async (ref: string) => (registry.includes(ref) ? {available: true} : {available: false, reason: `no registry serves ${ref}`}),
  } as unknown as Engine
}

describe('checkImages', () => {
  const appliance = defaultApplianceTag()

  it('present, pullable, buildable (the default appliance only), missing', async () => {
    const images = await checkImages(engineWith(['redis:7.2-alpine'], ['mongo:7.0']), [
      {key: 'redis', ref: 'redis:7.2-alpine'},
      {key: 'mongo', ref: 'mongo:7.0'},
      {key: 'appliance', ref: appliance},
      {key: 'caddy', ref: 'caddy:2-alpine'},
    ])
    expect(images.map((i) => i.state.status)).toEqual(['present', 'in-registry', 'buildable', 'missing'])
    expect(describeImage(images[3]!)).toBe('caddy:2-alpine is neither on this box nor in a registry it can reach (no registry serves caddy:2-alpine)')
  })

  it('an appliance image under another name is not built here: it must come from its registry or be loaded', async () => {
    const [custom] = await checkImages(engineWith([], []), [{key: 'appliance', ref: 'registry.example.org/shing/appliance:0.1.0'}])
    expect(custom?.state.status).toBe('missing')
  })

  it('the error for missing images names each key and how to get it there, and that nothing changed', async () => {
    const missing = await checkImages(engineWith([], []), [{key: 'caddy', ref: 'caddy:2-alpine'}])
    const error = missingImagesError(missing)
    expect(error.message).toMatch(/nothing was changed:\n {2}images\.caddy: caddy:2-alpine is neither/)
    expect(error.actions.join('\n')).toMatch(/docker load -i/)
  })
})

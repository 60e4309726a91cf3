/**
 * What the CLI (src/) and the appliance agree on, with a zod schema for every shape that crosses.
 * src/ imports only this folder of the appliance; the appliance never imports src/.
 */
export * from './accounts.js'
export * from './admin.js'
export * from './channel-profile.js'
export * from './chat.js'
export * from './media.js'
export * from './community.js'
export * from './jobs.js'
export * from './components.js'
export * from './env.js'
export * from './hardware-profile.js'
export * from './live.js'
export * from './registry.js'
export * from './browser-ingest.js'
export * from './calls.js'
export * from './costream.js'
export * from './whep.js'
export * from './whip.js'
export * from './backup.js'

/** Relay: fans each live stream out to viewers (relay/relay-server.ts). */
import type {ComponentDef} from '../platform/component.js'
import {startRelay} from '../relay/relay-server.js'

export const relay: ComponentDef<'relay'> = {name: 'relay', secrets: [], start: startRelay}

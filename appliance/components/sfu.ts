/** SFU: mediasoup workers for calls and co-streaming (sfu/worker-pool.ts). */
import type {ComponentDef} from '../platform/component.js'
import {startSfu} from '../sfu/worker-pool.js'

export const sfu: ComponentDef<'sfu'> = {name: 'sfu', secrets: ['streamKeySecret'], start: startSfu}

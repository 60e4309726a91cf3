import YAML from 'yaml'
import {describe, expect, it} from 'vitest'

import {chatLimitsSchema} from '../../../appliance/contract/index.js'
import {configTemplate, renderConfig} from '../../../src/config/render.js'
import {configSchema, type ShingConfigInput} from '../../../src/config/schema.js'

describe('the commented shing.yaml template', () => {
  it('is itself a valid config', () => {
    expect(configSchema.safeParse(YAML.parse(configTemplate())).success).toBe(true)
  })

  it("writes out every chat limit at the contract's default", () => {
    expect((YAML.parse(configTemplate()) as {chat: unknown}).chat).toEqual(chatLimitsSchema.parse({}))
  })

  it('renders a config keeping the comments, adding and dropping keys as the config says', () => {
    const config: ShingConfigInput = {
      version: 1,
      site: {hostname: 'live.example.org', adminEmail: 'ops@example.org'},
      ports: {http: 8080, https: 8443, rtmp: 1935, webrtc: {min: 41000, max: 41100}},
      tls: {mode: 'files', certFile: '/etc/ssl/live.pem', keyFile: '/etc/ssl/live.key'},
      storage: {kind: 's3', endpoint: 'https://s3.example.org', region: 'eu-1', bucket: 'live', pathStyle: true},
      dataDir: '/srv/shing',
      hardware: {profile: 'cpu-medium', ingestMaxLadders: 3},
      images: {},
    }
    const text = renderConfig(configSchema.parse(config))
    expect(text).toContain('# The public name (or IP address) viewers and streamers use.')
    expect(YAML.parse(text)).toEqual(configSchema.parse(config))
  })
})

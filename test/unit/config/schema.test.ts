import {describe, expect, it} from 'vitest'
import YAML from 'yaml'

import {configTemplate} from '../../../src/config/render.js'
import {chatLimitsSchema} from '../../../appliance/contract/index.js'
import {configSchema} from '../../../src/config/schema.js'
import {toProblems} from '../../../src/lib/zod-issues.js'

const base = (): Record<string, unknown> => YAML.parse(configTemplate()) as Record<string, unknown>
const problems = (value: unknown): string[] => {
  const r = configSchema.safeParse(value)
  return r.success ? [] : toProblems(r.error.issues).map((p) => `${p.path}: ${p.message}`)
}

describe('config schema', () => {
  it('names unknown keys by path', () => {
    const c = base()
    ;(c.site as Record<string, unknown>).hostnmae = 'x'
    expect(problems(c)).toEqual(['site.hostnmae: unknown key "hostnmae": remove it or check its spelling'])
  })

  it('names a wrong type and the type wanted', () => {
    const c = base()
    ;(c.ports as Record<string, unknown>).rtmp = 'rtmp'
    expect(problems(c)).toEqual(['ports.rtmp: wrong type: expected number, received string; set it to a number'])
  })

  it('finds a port clash', () => {
    const c = base()
    ;(c.ports as Record<string, unknown>).rtmp = 443
    expect(problems(c)).toEqual(['ports.rtmp: port clash: ports.rtmp and ports.https are both 443; give each its own port'])
  })

  it("the relays' own port: it clashes like the others, and needs TLS", () => {
    const clash = base()
    ;(clash.ports as Record<string, unknown>).relayHttps = 443
    expect(problems(clash)).toEqual(['ports.relayHttps: port clash: ports.relayHttps and ports.https are both 443; give each its own port'])
    const plain = base()
    plain.tls = {mode: 'none'}
    expect(problems(plain)).toEqual([
      'ports.relayHttps: viewers reach the relays directly over HTTPS, which needs a certificate: remove ports.relayHttps with tls.mode none, or set tls.mode to auto or files',
    ])
    delete (plain.ports as Record<string, unknown>).relayHttps
    expect(problems(plain)).toEqual([])
    const inner = base()
    ;(inner.ports as Record<string, unknown>).relayHttps = 8082
    expect(problems(inner)).toEqual(["ports.relayHttps: 8082 is the relay's own plain port inside its container; give ports.relayHttps another (e.g. 8443)"])
  })

  it('lists the TLS modes when the mode is unknown', () => {
    const c = base()
    c.tls = {mode: 'letsencrypt'}
    expect(problems(c)).toEqual(["tls.mode: must be one of 'auto', 'none', 'files'"])
  })

  it('names a chat limit out of range, and a misspelt one, by path', () => {
    const c = base()
    c.chat = {burst: 0, bursts: 3}
    expect(problems(c)).toEqual([
      'chat.burst: out of range: expected number to be >=1',
      'chat.bursts: unknown key "bursts": remove it or check its spelling',
    ])
  })

  it('chat: absent or partial, the limits left out take their defaults', () => {
    const c = base()
    delete c.chat
    expect(configSchema.parse(c).chat).toEqual(chatLimitsSchema.parse({}))
    c.chat = {perSecond: 0.5}
    expect(configSchema.parse(c).chat).toEqual({...chatLimitsSchema.parse({}), perSecond: 0.5})
  })

  it('only knows version 1', () => {
    const c = base()
    c.version = 2
    expect(problems(c)).toEqual(['version: must be 1'])
  })
})

import {mkdtemp, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {checkHostKey, fingerprint, knownHostsName} from '../../../src/engine/known-hosts.js'
import {describeTarget, parseEngineTarget} from '../../../src/engine/target.js'
import {AbortError} from '../../../src/errors.js'

function actionsOf(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(AbortError)
    return (error as AbortError).actions.join('\n')
  }
  throw new Error('it did not throw')
}

describe('engine addresses, as the docker CLI writes them', () => {
  it('the local socket by default, or DOCKER_HOST', () => {
    expect(parseEngineTarget(undefined, {env: {}})).toEqual({kind: 'socket', path: '/var/run/docker.sock'})
    expect(parseEngineTarget(undefined, {env: {DOCKER_HOST: 'unix:///run/x.sock'}})).toEqual({kind: 'socket', path: '/run/x.sock'})
  })

  it('TCP: plain on 2375, TLS with DOCKER_TLS_VERIFY and the three files of DOCKER_CERT_PATH', async () => {
    expect(parseEngineTarget('tcp://box:2375', {env: {}})).toEqual({kind: 'tcp', host: 'box', port: 2375})
    const certs = await mkdtemp(path.join(os.tmpdir(), 'certs-'))
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await writeFile(path.join(certs, f), f)
    const tls = parseEngineTarget('tcp://[2001:db8::1]:2376', {env: {DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs}})
    expect(tls).toMatchObject({kind: 'tcp', host: '2001:db8::1', port: 2376, tls: {ca: Buffer.from('ca.pem')}})
    expect(describeTarget(tls)).toBe('tcp://[2001:db8::1]:2376 (TLS)')
    expect(actionsOf(() => parseEngineTarget('tcp://box:2376', {env: {DOCKER_CERT_PATH: path.join(certs, 'nope')}}))).toMatch(/DOCKER_CERT_PATH at a directory with ca.pem/)
  })

  it('SSH: user root and port 22 unless given; a bad address names the forms that work', () => {
    expect(parseEngineTarget('ssh://box', {env: {}})).toMatchObject({kind: 'ssh', user: 'root', host: 'box', port: 22})
    expect(describeTarget(parseEngineTarget('ssh://ops@box:2222', {env: {}}))).toBe('ssh://ops@box:2222')
    expect(actionsOf(() => parseEngineTarget('ftp://box', {env: {}}))).toContain('unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST[:PORT]')
  })
})

describe('known_hosts', () => {
  const key = Buffer.from('a-host-key-blob')
  const line = (name: string, blob = key): string => `${name} ssh-ed25519 ${blob.toString('base64')}`

  it('a listed host with its key is known; another key for it is a change; an unlisted host is unknown', () => {
    expect(knownHostsName('box', 22)).toBe('box')
    expect(knownHostsName('box', 2222)).toBe('[box]:2222')
    expect(checkHostKey(`# comment\n${line('other,box')}\n`, 'box', key)).toEqual({status: 'known'})
    expect(checkHostKey(line('box', Buffer.from('another')), 'box', key)).toEqual({status: 'changed', fingerprint: fingerprint(key)})
    expect(checkHostKey(line('other'), 'box', key)).toEqual({status: 'unknown', fingerprint: fingerprint(key)})
    expect(fingerprint(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
  })
})

import {describe, expect, it} from 'vitest'

import {hashPassword, passwordProblem, verifyPassword} from '../../../../appliance/accounts/passwords.js'
import {safeNext} from '../../../../appliance/accounts/routes.js'
import {emailProblem, usernameProblem} from '../../../../appliance/accounts/users.js'
import {contentSecurityPolicy} from '../../../../appliance/web/security.js'

describe('passwords', () => {
  it('are stored as Argon2id PHC strings at OWASP parameters, and verify only with the same password', async () => {
    const stored = await hashPassword('correct horse battery staple')
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true)
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false)
    expect(await verifyPassword('correct horse battery staple', 'not a hash')).toBe(false)
    // Two hashes of one password differ (a salt each).
    expect(await hashPassword('correct horse battery staple')).not.toBe(stored)
  })

  it('count every byte: two passwords equal in their first 72 bytes are different passwords (no bcrypt cut)', async () => {
    const prefix = 'x'.repeat(80)
    const stored = await hashPassword(`${prefix}-one`)
    expect(await verifyPassword(`${prefix}-two`, stored)).toBe(false)
  })

  it('are refused when short, huge, or containing the username, with the fix', () => {
    expect(passwordProblem('short')).toMatch(/at least 10 characters/)
    expect(passwordProblem('a'.repeat(2000))).toMatch(/at most 1024/)
    expect(passwordProblem('alice-is-the-best', 'Alice')).toMatch(/does not contain your username/)
    expect(passwordProblem('a long enough passphrase', 'alice')).toBeUndefined()
  })
})

describe('account input', () => {
  it('usernames: 3-30 of letters, digits, _ and -; hostile ones refused', () => {
    expect(usernameProblem('alice_99')).toBeUndefined()
    for (const bad of ['ab', '<script>', 'a b c', '-lead', 'x'.repeat(31), 'ålice']) expect(usernameProblem(bad), bad).toBeDefined()
  })

  it('e-mail addresses: the shape of one, no markup', () => {
    expect(emailProblem('a@example.org')).toBeUndefined()
    for (const bad of ['a@b', 'no-at.example.org', '"><script>@x.org', 'a b@example.org']) expect(emailProblem(bad), bad).toBeDefined()
  })

  it('a log-in goes on only to a path of this site', () => {
    expect(safeNext('/account')).toBe('/account')
    expect(safeNext('/c/alice?x=1')).toBe('/c/alice?x=1')
    for (const bad of ['//evil.example', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '', undefined, 42]) expect(safeNext(bad), String(bad)).toBeUndefined()
  })
})

describe('the Content-Security-Policy', () => {
  it('allows scripts and styles from the site only, no framing, and upgrades requests only on an https site', () => {
    const https = contentSecurityPolicy(true)
    expect(https['script-src']).toEqual(["'self'"])
    expect(https['style-src']).toEqual(["'self'"])
    expect(https['frame-ancestors']).toEqual(["'none'"])
    expect(https['upgrade-insecure-requests']).toEqual([])
    expect(contentSecurityPolicy(false)['upgrade-insecure-requests']).toBeNull()
  })
})

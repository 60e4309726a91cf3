/**
 * One HTTP POST of a webhook delivery. The connection goes to the address that was checked: the
 * host is resolved once, inside the request's own lookup, and refused there when it is private
 * (unless allowed) — a name that resolved to a public address when the webhook was saved and to
 * 127.0.0.1 now (DNS rebinding) is refused now. Redirects are not followed (they could lead
 * anywhere). The answer's body is read up to a few KB and dropped.
 */
import http from 'node:http'
import https from 'node:https'
import {lookup as dnsLookup, type LookupAddress} from 'node:dns'
import {isIP, type LookupFunction} from 'node:net'

import {bareHost, isPrivateAddress, WebhookAddressError} from './webhooks.js'

export interface DeliveryRequest {
  url: string
  body: string
  headers: Record<string, string>
  allowPrivateAddresses: boolean
  timeoutMs: number
  signal?: AbortSignal
}

/** The receiver answered (any status). A network failure, a timeout or a refused address throws. */
export interface DeliveryAnswer {
  status: number
  /** Its Retry-After, in seconds, when it sent one. */
  retryAfterSeconds?: number
}

/** dns.lookup, refusing private addresses (every one it found must be public). */
const checkedLookup =
  (allowPrivate: boolean): LookupFunction =>
  (hostname, options, callback) => {
    dnsLookup(hostname, {...options, all: true}, (error, addresses: LookupAddress[]) => {
      if (error !== null) return callback(error, '', 0)
      const inside = addresses.find((a) => isPrivateAddress(a.address))
      if (!allowPrivate && inside !== undefined) return callback(new WebhookAddressError(`${hostname} resolves to a private, loopback or link-local address (${inside.address}): refused`), '', 0)
      if (options.all === true) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses)
      const first = addresses[0]
      if (first === undefined) return callback(new Error(`${hostname}: no address`), '', 0)
      callback(null, first.address, first.family)
    })
  }

export function deliver(request: DeliveryRequest): Promise<DeliveryAnswer> {
  const url = new URL(request.url)
  const host = bareHost(url)
  // An address written in the URL is not looked up: it is checked here.
  if (isIP(host) !== 0 && !request.allowPrivateAddresses && isPrivateAddress(host)) {
    return Promise.reject(new WebhookAddressError(`${host} is a private, loopback or link-local address: refused`))
  }
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const outgoing = client.request(
      url,
      {
        method: 'POST',
        headers: {...request.headers, 'content-length': String(Buffer.byteLength(request.body))},
        lookup: checkedLookup(request.allowPrivateAddresses),
        timeout: request.timeoutMs,
        ...(request.signal === undefined ? {} : {signal: request.signal}),
        // One connection per delivery: no pooled socket to an address checked long ago.
        agent: false,
      },
      (answer) => {
        let read = 0
        answer.on('data', (chunk: Buffer) => {
          read += chunk.length
          if (read > 64 * 1024) answer.destroy()
        })
        const done = (): void => {
          const retryAfter = Number(answer.headers['retry-after'])
          resolve({status: answer.statusCode ?? 0, ...(Number.isFinite(retryAfter) && retryAfter > 0 ? {retryAfterSeconds: retryAfter} : {})})
        }
        answer.on('end', done)
        answer.on('close', done)
        answer.on('error', done)
      },
    )
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${request.timeoutMs / 1000} s`)))
    outgoing.on('error', reject)
    outgoing.end(request.body)
  })
}

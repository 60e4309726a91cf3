/** TLS for tests: a self-signed certificate (openssl) and an HTTP/2 GET that trusts only it. */
import {X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import http2 from 'node:http2'
import path from 'node:path'

import {commandOutput, requireTool} from './tools.js'

export interface TestCertificate {
  certFile: string
  keyFile: string
  /** The PEM, for clients to trust. */
  pem: string
  fingerprint: string
}

/** A P-256 certificate for `name` and 127.0.0.1, valid two days, written to dir as <prefix>cert.pem / key.pem. */
export async function selfSignedCertificate(dir: string, name: string, prefix = ''): Promise<TestCertificate> {
  const certFile = path.join(dir, `${prefix}cert.pem`)
  const keyFile = path.join(dir, `${prefix}key.pem`)
  const openssl = requireTool('openssl')
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`]
  await commandOutput(openssl, [...args, '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1`, '-keyout', keyFile, '-out', certFile])
  const pem = await readFile(certFile, 'utf8')
  return {certFile, keyFile, pem, fingerprint: new X509Certificate(pem).fingerprint256}
}

/** GET over HTTP/2 (ALPN h2, as browsers do) trusting only `ca`; the server's certificate fingerprint with the answer. */
export async function http2Get(url: string, ca: string, headers: Record<string, string> = {}): Promise<{status: number; headers: http2.IncomingHttpHeaders; body: Buffer; fingerprint: string; alpn: string | false | null}> {
  const target = new URL(url)
  const session = http2.connect(target.origin, {ca, servername: target.hostname === '127.0.0.1' ? undefined : target.hostname})
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve())
      session.once('error', reject)
    })
    const socket = session.socket as import('node:tls').TLSSocket
    const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? ''
    const alpn = socket.alpnProtocol
    const stream = session.request({':path': `${target.pathname}${target.search}`, ...headers})
    const [responseHeaders, body] = await Promise.all([
      new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        stream.once('response', resolve)
        stream.once('error', reject)
      }),
      (async () => {
        const chunks: Buffer[] = []
        for await (const chunk of stream) chunks.push(chunk as Buffer)
        return Buffer.concat(chunks)
      })(),
    ])
    return {status: Number(responseHeaders[':status']), headers: responseHeaders, body, fingerprint, alpn}
  } finally {
    session.close()
  }
}

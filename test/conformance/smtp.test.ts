import nodemailer, {type Transporter} from 'nodemailer'
import {expect, it} from 'vitest'

import {startMailpit} from '../harness/mailpit.js'
import {markReal} from '../harness/real-part.js'

it('smtp', async (ctx) => {
  const started = performance.now()
  const mailpit = await startMailpit()
  console.log(`timing: mailpit ready in ${Math.round(performance.now() - started)} ms`)
  const transport = (password: string): Transporter =>
    nodemailer.createTransport({host: '127.0.0.1', port: mailpit.smtpPort, secure: false, ignoreTLS: true, auth: {user: mailpit.username, pass: password}})
  try {
    // The server demands its log-in: a wrong password is refused, as a provider's would be.
    await expect(transport('wrong').sendMail({from: 'a@example.test', to: 'b@example.test', subject: 'no', text: 'no'})).rejects.toThrow(/auth|535/i)
    // What a real client sends arrives, and the API shows it as the recipient would read it.
    const sent = transport(mailpit.password)
    await sent.sendMail({from: 'Shing <live@example.test>', to: 'viewer@example.test', subject: 'Conformance', text: 'Follow https://example.test/x?token=abc'})
    const mail = await mailpit.waitForMail('viewer@example.test', {timeoutMs: 10_000})
    expect(mail.subject).toBe('Conformance')
    expect(mail.from).toBe('live@example.test')
    expect(mail.text).toContain('https://example.test/x?token=abc')
    sent.close()
    markReal(ctx, 'smtp', `mailpit ${mailpit.version}`)
  } finally {
    await mailpit.stop()
  }
})

import type {JobData, MailSendResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** mail.send: one mail over SMTP; a refusal or an absent server fails the attempt, and BullMQ retries. */
export async function mailSend({to, subject, text, html, unsubscribeUrl}: JobData['mail.send'], {mail, log}: JobContext): Promise<MailSendResult> {
  if (mail === undefined) throw new Error('this worker has no SMTP settings (mail.mode is none in shing.yaml): run `shing up` after setting mail')
  // RFC 8058 one-click unsubscribe: mail clients POST `List-Unsubscribe=One-Click` to the link.
  const unsubscribe = unsubscribeUrl === undefined ? {} : {list: {unsubscribe: unsubscribeUrl}, headers: {'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click'}}
  const info = (await mail.transport.sendMail({from: mail.from, to, subject, text, html, ...unsubscribe})) as {messageId: string}
  log.info({to: to.replace(/^(.).*@/, '$1…@'), subject}, 'mail sent')
  return {status: 'sent', messageId: info.messageId}
}

import type {JobData, MailSendResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** mail.send: one mail over SMTP; a refusal or an absent server fails the attempt, and BullMQ retries. */
export async function mailSend({to, subject, text, html}: JobData['mail.send'], {mail, log}: JobContext): Promise<MailSendResult> {
  if (mail === undefined) throw new Error('this worker has no SMTP settings (mail.mode is none in shing.yaml): run `shing up` after setting mail')
  const info = (await mail.transport.sendMail({from: mail.from, to, subject, text, html})) as {messageId: string}
  log.info({to: to.replace(/^(.).*@/, '$1…@'), subject}, 'mail sent')
  return {status: 'sent', messageId: info.messageId}
}

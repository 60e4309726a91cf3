import type {JobData, JobRun, MailSendResult} from '../../jobs/types.js'
import type {JobContext} from './context.js'

/** Marks a mail.send job whose mail went (or is going) to the SMTP server; a day outlives its retries. */
export const mailSentKey = (jobId: string): string => `shing:mail-sent:${jobId}`
const MAIL_SENT_TTL_S = 24 * 3600

/**
 * mail.send: one mail over SMTP; a refusal or an absent server fails the attempt, and BullMQ retries.
 * A worker killed after the server took the mail but before the job was marked done would send it
 * again on the retry: the marker (SET NX by job id, before sending) makes that retry skip it.
 * Exactly once over SMTP cannot be had: a worker killed during the SMTP exchange itself leaves the
 * marker and that mail is not retried (at most once, within that window; a refusal or an error
 * removes the marker, and the retry sends).
 */
export async function mailSend({to, subject, text, html, unsubscribeUrl}: JobData['mail.send'], {mail, redis, log}: JobContext, run: Pick<JobRun, 'id'>): Promise<MailSendResult> {
  if (mail === undefined) throw new Error('this worker has no SMTP settings (mail.mode is none in shing.yaml): run `shing up` after setting mail')
  const marker = mailSentKey(run.id)
  if ((await redis.set(marker, new Date().toISOString(), 'EX', MAIL_SENT_TTL_S, 'NX')) !== 'OK') {
    log.warn({jobId: run.id, subject}, 'mail already sent by an earlier try of this job: not sent again')
    return {status: 'skipped', reason: 'already sent'}
  }
  // RFC 8058 one-click unsubscribe: mail clients POST `List-Unsubscribe=One-Click` to the link.
  const unsubscribe = unsubscribeUrl === undefined ? {} : {list: {unsubscribe: unsubscribeUrl}, headers: {'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click'}}
  let info: {messageId: string}
  try {
    info = (await mail.transport.sendMail({from: mail.from, to, subject, text, html, ...unsubscribe})) as {messageId: string}
  } catch (error) {
    await redis.del(marker).catch(() => undefined)
    throw error
  }
  log.info({to: to.replace(/^(.).*@/, '$1…@'), subject}, 'mail sent')
  return {status: 'sent', messageId: info.messageId}
}

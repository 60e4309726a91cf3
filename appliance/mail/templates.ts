/**
 * The mails accounts get: plain text first (what many read, and what a link scanner sees), with
 * a simple HTML copy. Every value in the HTML is escaped; links are this site's own.
 */
import {escapeHtml} from '../web/html.js'
import type {Mail} from './mailer.js'

interface MailInput {
  to: string
  site: string
  username: string
}

function compose(input: MailInput, subject: string, paragraphs: string[], link?: {url: string; label: string}): Mail {
  const text = [`Hello ${input.username},`, '', ...paragraphs.flatMap((p) => [p, '']), ...(link ? [`${link.label}:`, link.url, ''] : []), `— ${input.site}`].join('\n')
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;max-width:36em">
<p>Hello ${escapeHtml(input.username)},</p>
${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
${link ? `<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>\n<p style="color:#555">Or open this address: ${escapeHtml(link.url)}</p>` : ''}
<p>— ${escapeHtml(input.site)}</p>
</body></html>`
  return {to: input.to, subject: `${subject} · ${input.site}`, text, html}
}

export function verificationMail(input: MailInput & {url: string; hours: number}): Mail {
  return compose(input, 'Confirm your e-mail address', [
    `Someone (we hope you) made the account ${input.username} with this address. Confirm it to go live and to get password reset links here.`,
    `The link works for ${input.hours} hours. If this was not you, ignore this mail: nothing happens without the link.`,
  ], {url: input.url, label: 'Confirm my address'})
}

export function passwordResetMail(input: MailInput & {url: string; minutes: number}): Mail {
  return compose(input, 'Reset your password', [
    'Someone asked to reset the password of your account. Choose a new one with the link below; it works once, for the next ' + `${input.minutes} minutes.`,
    'If it was not you, ignore this mail: your password stays as it is.',
  ], {url: input.url, label: 'Choose a new password'})
}

export function emailChangeMail(input: MailInput & {url: string; hours: number}): Mail {
  return compose(input, 'Confirm your new e-mail address', [
    `The account ${input.username} asked to use this address from now on. It changes when you follow the link (valid for ${input.hours} hours).`,
    'If this was not you, ignore this mail: the account keeps its address.',
  ], {url: input.url, label: 'Use this address'})
}

export function emailChangedNotice(input: MailInput & {newAddress: string}): Mail {
  return compose(input, 'Your e-mail address was changed', [
    `Your account's address is now ${input.newAddress}; mail for it goes there from now on.`,
    'If you did not do this, someone may have your password: reset it from the log-in page with the new address, or ask the site\'s admin for help.',
  ])
}

/**
 * The chat column beside the player (live, or replaying a past broadcast's chat), and the pop-out
 * page with the chat alone, for a browser window or an OBS browser source. chat-script.ts brings
 * them to life; everything a message holds is put on the page as text by that script.
 */
import {CHAT_MESSAGE_MAX} from '../contract/index.js'
import type {Asset} from '../web/assets.js'
import {escapeHtml, page, type PageContext} from '../web/html.js'
import {chatJs} from './chat-script.js'

/** The scripts a page with a chat column loads (in this order). */
export const chatScripts = (socketIoJs: Asset): string[] => [socketIoJs.url, chatJs.url]

/** Where a channel's past broadcast's chat is (ChatReplay). */
export const chatReplayPath = (channel: string, streamId: string): string => `/api/streams/${channel}/vods/${streamId}/chat`
/** The pop-out chat of a channel. */
export const chatPopoutPath = (channel: string): string => `/c/${channel}/chat`

export interface ChatPanelOptions {
  channel: string
  /** Replays this past broadcast's chat in time with the video instead of the live chat. */
  replay?: string
  /** Where "log in to chat" comes back to. */
  returnTo: string
  /** The pop-out page itself: no link to pop out again. */
  popout?: boolean
}

export function chatPanel(options: ChatPanelOptions): string {
  const channel = encodeURIComponent(options.channel)
  const login = `/login?next=${encodeURIComponent(options.returnTo)}`
  const heading = options.replay !== undefined ? 'Chat replay' : options.popout === true ? `${escapeHtml(options.channel)} chat` : 'Chat'
  const tools =
    options.replay === undefined && options.popout !== true
      ? `<a id="chat-moderation" class="chat-tool" href="/c/${channel}/moderation" hidden>Moderation</a><a class="chat-tool" href="/c/${channel}/chat" target="_blank" rel="noopener">Pop out<span class="visually-hidden"> the chat (a new window)</span></a>`
      : ''
  const form =
    options.replay === undefined
      ? `<p id="chat-login" class="chat-login" hidden><a href="${escapeHtml(login)}">Log in</a> or <a href="/signup">sign up</a> to chat.</p>
<p id="chat-cannot" class="chat-cannot" hidden></p>
<form id="chat-form" class="chat-form" hidden>
<label for="chat-input" class="visually-hidden">Send a message</label>
<textarea id="chat-input" name="text" rows="2" maxlength="${CHAT_MESSAGE_MAX}" placeholder="Send a message" autocomplete="off" enterkeyhint="send"></textarea>
<button class="primary" type="submit">Chat</button>
</form>`
      : ''
  return `<aside id="chat" class="chat" aria-labelledby="chat-heading" data-chat-channel="${escapeHtml(options.channel)}"${options.replay === undefined ? '' : ` data-chat-replay="${escapeHtml(options.replay)}"`}>
<div class="chat-head"><h2 id="chat-heading">${heading}</h2>${tools}</div>
<ol id="chat-log" class="chat-log" aria-live="polite" aria-relevant="additions"></ol>
<p id="chat-status" class="chat-status" role="status"></p>
${form}
</aside>`
}

/** /c/<channel>/chat: the chat alone, the whole window. */
export function chatPopoutPage(context: PageContext, options: {channel: string; socketIoJs: Asset}): string {
  return page(context, {
    title: `${options.channel} chat`,
    width: 'chat',
    scripts: chatScripts(options.socketIoJs),
    body: chatPanel({channel: options.channel, returnTo: chatPopoutPath(options.channel), popout: true}),
  })
}

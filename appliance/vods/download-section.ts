/** The VOD page's Download MP4 box: the link when the MP4 is there, else the form that asks for it. */
import {csrfField, escapeHtml, type PageContext} from '../web/html.js'
import type {VodDownloadState} from './download.js'
import {vodPage} from './vods.js'

const megabytes = (bytes: number): string => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`)

export function vodDownloadSection(context: PageContext, channel: string, streamId: string, state: VodDownloadState): string {
  const statusUrl = `/api/streams/${encodeURIComponent(channel)}/vods/${encodeURIComponent(streamId)}/download`
  const status =
    state.state === 'ready'
      ? `<a class="button" id="download-link" href="${escapeHtml(state.url)}" download>Download MP4</a><span class="muted"> ${megabytes(state.bytes)}</span>`
      : state.state === 'preparing'
        ? 'Preparing the MP4… reload this page in a moment for the link.'
        : ''
  const form =
    state.state === 'ready'
      ? ''
      : `<form method="post" action="${escapeHtml(`${vodPage(channel, streamId)}/download`)}"${state.state === 'preparing' ? ' hidden' : ''}>${csrfField(context.csrfToken)}<button class="secondary" type="submit">Download MP4</button></form>`
  return `<section class="vod-download" id="download" aria-labelledby="download-heading" data-state="${state.state}" data-status-url="${escapeHtml(statusUrl)}"><h2 id="download-heading">Download</h2>
${form}<p id="download-status" role="status" aria-live="polite">${status}</p></section>`
}

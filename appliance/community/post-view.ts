/**
 * How posts look: one post's card (the channel's Community tab, a post's page, the home timeline
 * all show the same one), a post's page with its comments, the Community tab, and the form a
 * streamer writes a post with. The post's HTML was sanitized when it was written (markdown.ts);
 * everything else here is escaped.
 */
import {clipMedia, clipPage} from '../clips/clips.js'
import {vodPage} from '../vods/vods.js'
import {avatar, csrfField, escapeHtml, formatDuration, page, type PageContext} from '../web/html.js'
import {POST_MARKDOWN_MAX, postExcerpt} from './markdown.js'
import {postImageUrl} from './post-images.js'
import {COMMENT_MAX, type CommentDoc} from './post-reactions.js'
import {localTime, localTimesJs} from './schedule-pages.js'
import {POST_IMAGES_MAX, type PostDoc, type PostLink} from './posts.js'

/** A post's page. */
export const postPath = (post: Pick<PostDoc, '_id' | 'channel'>): string => `/c/${encodeURIComponent(post.channel)}/posts/${post._id.toHexString()}`
/** A channel's Community tab. */
export const communityPath = (channel: string): string => `/c/${encodeURIComponent(channel)}/posts`

/** "2026-12-06 13:34 UTC", in a <time> a script or reader can take the exact instant from. */
/** When it was written: UTC in the HTML, the reader's own time once local-times.js ran. */
const when = localTime

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

/** The VOD or clip a post points at: its poster and what it is. */
function linkCard(link: PostLink): string {
  const href = link.kind === 'vod' ? vodPage(link.channel, link.id) : clipPage(link.id)
  const poster = link.poster === undefined ? '<span class="thumb placeholder" aria-hidden="true"></span>' : `<img src="${escapeHtml(link.poster)}" alt="" width="320" height="180" loading="lazy" decoding="async">`
  const kind = link.kind === 'vod' ? 'Past broadcast' : 'Clip'
  return `<a class="post-link" href="${escapeHtml(href)}">${poster}<span><span class="muted">${kind}</span><br><strong>${escapeHtml(link.title ?? `${link.channel}'s ${kind.toLowerCase()}`)}</strong></span></a>`
}

function images(post: PostDoc): string {
  if (post.images.length === 0) return ''
  const items = post.images.map((image, i) => {
    const url = escapeHtml(postImageUrl(post, image))
    return `<a href="${url}"><img src="${url}" alt="Picture ${i + 1} of ${post.images.length}" width="${image.width}" height="${image.height}" loading="lazy" decoding="async"></a>`
  })
  return `<div class="post-images count-${post.images.length}">${items.join('')}</div>`
}

export interface PostCardExtra {
  liked: boolean
  canEdit: boolean
  /** The post's own page shows its whole card with its comments under it: no "comments" link. */
  onItsPage?: boolean
}

/** One post: who, when, what they wrote, their pictures and link, and what the viewer can do with it. */
export function postCard(context: PageContext, post: PostDoc, extra: PostCardExtra): string {
  const id = post._id.toHexString()
  const path = postPath(post)
  const token = csrfField(context.csrfToken)
  const likes = plural(post.likes, 'like', 'likes')
  const like =
    context.viewer === undefined
      ? `<a class="button secondary" href="/login?next=${encodeURIComponent(path)}">♥ <span>${likes}</span></a>`
      : `<form method="post" action="${path}/${extra.liked ? 'unlike' : 'like'}">${token}<button class="secondary" type="submit" aria-pressed="${extra.liked}" aria-label="${extra.liked ? 'Unlike' : 'Like'} (${likes})">♥ <span>${likes}</span></button></form>`
  const actions = [
    like,
    extra.onItsPage === true ? '' : `<a href="${path}#comments">${plural(post.comments, 'comment', 'comments')}</a>`,
    extra.canEdit ? `<a href="${path}/edit">Edit</a>` : '',
    context.viewer !== undefined && !extra.canEdit ? `<a class="report-link" href="${path}/report">Report</a>` : '',
  ].filter((a) => a !== '')
  const channel = escapeHtml(post.channel)
  return `<article class="post" id="post-${id}" aria-labelledby="post-${id}-by">
<p class="post-head"><a id="post-${id}-by" class="post-channel" href="/c/${encodeURIComponent(post.channel)}">${channel}</a> <a class="muted" href="${path}">${when(post.createdAt)}</a>${post.editedAt === undefined ? '' : ` <span class="muted">· edited ${when(post.editedAt)}</span>`}</p>
<div class="post-body">${post.html}</div>
${images(post)}${post.link === undefined ? '' : linkCard(post.link)}
<div class="post-actions">${actions.join('')}</div>
</article>`
}

/** The Channel / Community switch at the top of a channel's Community pages. */
function channelTabs(channel: string, current: 'community'): string {
  const name = escapeHtml(channel)
  return `<nav class="channel-tabs" aria-label="${name}"><a href="/c/${encodeURIComponent(channel)}">Channel</a><a href="${communityPath(channel)}"${current === 'community' ? ' aria-current="page"' : ''}>Community</a></nav>`
}

/** What a streamer may link a post to: their recent VODs and clips. */
export interface LinkChoice {
  value: string
  label: string
}

export interface PostFormView {
  channel: string
  action: string
  markdown?: string
  /** The link chosen now (`vod:<id>` / `clip:<id>`). */
  link?: string
  choices: readonly LinkChoice[]
  /** On an edit: the pictures it has (each with a "keep" box). */
  current?: readonly {url: string; key: string}[]
  error?: string
  submit: string
}

/** The form a post is written or edited with (multipart: the CSRF field first, as the server reads it first). */
export function postForm(context: PageContext, view: PostFormView): string {
  const kept = view.current ?? []
  const keep =
    kept.length === 0
      ? ''
      : `<fieldset class="post-keep"><legend>Pictures <span class="hint">Untick one to remove it.</span></legend>${kept
          .map((image, i) => `<label class="choice"><input type="checkbox" name="keep" value="${escapeHtml(image.key)}" checked> <img src="${escapeHtml(image.url)}" alt="" width="96" height="96"> Picture ${i + 1}</label>`)
          .join('')}</fieldset>`
  const options = [{value: '', label: 'No link'}, ...view.choices]
    .map((c) => `<option value="${escapeHtml(c.value)}"${c.value === (view.link ?? '') ? ' selected' : ''}>${escapeHtml(c.label)}</option>`)
    .join('')
  return `<form class="stack post-form" id="new-post" method="post" action="${escapeHtml(view.action)}" enctype="multipart/form-data">
${csrfField(context.csrfToken)}
${view.error === undefined ? '' : `<p class="notice error" role="alert" id="post-error">${escapeHtml(view.error)}</p>`}
<label for="post-markdown">Post <span class="hint">Markdown: **bold**, _italic_, [links](https://…), lists, &gt; quotes. At most ${POST_MARKDOWN_MAX} characters.</span></label>
<textarea id="post-markdown" name="markdown" rows="6" maxlength="${POST_MARKDOWN_MAX}" required${view.error === undefined ? '' : ' aria-describedby="post-error"'}>${escapeHtml(view.markdown ?? '')}</textarea>
${keep}
<label>Pictures <span class="hint">Up to ${POST_IMAGES_MAX} in all: JPEG, PNG, WebP or GIF, 8 MB each.</span><input type="file" name="images" accept="image/jpeg,image/png,image/webp,image/gif" multiple></label>
<label>Link to a past broadcast or clip <select name="link">${options}</select></label>
<div><button class="primary" type="submit">${escapeHtml(view.submit)}</button></div>
</form>`
}

export interface CommunityPageView {
  channel: string
  avatarUrl?: string
  cards: readonly string[]
  /** The next page's address, when there are older posts. */
  older?: string
  /** Whether this is the first page (the newest posts). */
  first: boolean
  /** The owner's form, when the viewer may post. */
  form?: string
  notice?: string
}

export function communityPage(context: PageContext, view: CommunityPageView): string {
  const name = escapeHtml(view.channel)
  const list = view.cards.length === 0 ? `<p class="muted">${view.first ? `${name} has not posted yet.` : 'No older posts.'}</p>` : view.cards.join('\n')
  return page(context, {
    title: `${view.channel} · Community`,
    scripts: [localTimesJs.url],
    width: 'wide',
    body: `<div class="community">
<div class="watch-header">${avatar(view.channel, view.avatarUrl)}<h1>${name}</h1></div>
${channelTabs(view.channel, 'community')}
${view.notice === undefined ? '' : `<p class="notice ok" role="status">${escapeHtml(view.notice)}</p>`}
${view.form === undefined ? '' : `<details class="post-compose"${view.first ? ' open' : ''}><summary>Write a post</summary>${view.form}</details>`}
<h2 class="skip">Posts</h2>
<div class="posts">${list}</div>
${view.older === undefined ? '' : `<p class="pager"><a class="button secondary" href="${escapeHtml(view.older)}" rel="next">Older posts</a></p>`}
${view.first ? '' : `<p><a href="${communityPath(view.channel)}">Newest posts</a></p>`}
</div>`,
  })
}

export interface PostPageView {
  post: PostDoc
  card: string
  comments: readonly CommentDoc[]
  /** The cursor of the comments before these, when there are some. */
  earlier?: string
  /** The comment being answered (?reply=<id>), when there is one. */
  replyTo?: CommentDoc
  /** Who may remove which comment: its author, and the channel's owner. */
  canDelete: (comment: CommentDoc) => boolean
  error?: string
  draft?: string
}

function commentItem(context: PageContext, post: PostDoc, comment: CommentDoc, canDelete: boolean): string {
  const id = comment._id.toHexString()
  const path = postPath(post)
  const replyTo = comment.replyTo === undefined ? '' : ` <span class="muted">replying to <a href="#comment-${escapeHtml(comment.replyTo.commentId)}">@${escapeHtml(comment.replyTo.author)}</a></span>`
  const actions = [
    context.viewer === undefined ? '' : `<a href="${path}?reply=${id}#comment-form" aria-label="Reply to ${escapeHtml(comment.author)}">Reply</a>`,
    canDelete ? `<form method="post" action="${path}/comments/${id}/delete">${csrfField(context.csrfToken)}<button class="linklike" type="submit" aria-label="Delete the comment of ${escapeHtml(comment.author)}">Delete</button></form>` : '',
    context.viewer !== undefined && context.viewer.username !== comment.author ? `<a class="report-link" href="${path}/comments/${id}/report">Report</a>` : '',
  ].filter((a) => a !== '')
  return `<li class="comment" id="comment-${id}"><p class="comment-head"><strong>${escapeHtml(comment.author)}</strong>${replyTo} <span class="muted">${when(comment.createdAt)}</span></p><p class="comment-text">${escapeHtml(comment.text)}</p>${actions.length === 0 ? '' : `<div class="comment-actions">${actions.join('')}</div>`}</li>`
}

export function postPage(context: PageContext, view: PostPageView): string {
  const {post} = view
  const path = postPath(post)
  const comments =
    (view.earlier === undefined ? '' : `<p><a href="${path}?before=${encodeURIComponent(view.earlier)}#comments" rel="prev">Earlier comments</a></p>`) +
    (view.comments.length === 0 ? '<p class="muted">No comments yet.</p>' : `<ol class="comments">${view.comments.map((c) => commentItem(context, post, c, view.canDelete(c))).join('')}</ol>`)
  const form =
    context.viewer === undefined
      ? `<p><a href="/login?next=${encodeURIComponent(path)}">Log in</a> to comment.</p>`
      : `<form class="stack comment-form" id="comment-form" method="post" action="${path}/comments">
${csrfField(context.csrfToken)}
${view.replyTo === undefined ? '' : `<input type="hidden" name="replyTo" value="${view.replyTo._id.toHexString()}"><p class="muted">Replying to <strong>@${escapeHtml(view.replyTo.author)}</strong> · <a href="${path}#comment-form">cancel</a></p>`}
${view.error === undefined ? '' : `<p class="notice error" role="alert" id="comment-error">${escapeHtml(view.error)}</p>`}
<label for="comment-text">${view.replyTo === undefined ? 'Comment' : 'Reply'}</label>
<textarea id="comment-text" name="text" rows="3" maxlength="${COMMENT_MAX}" required>${escapeHtml(view.draft ?? (view.replyTo === undefined ? '' : `@${view.replyTo.author} `))}</textarea>
<div><button class="primary" type="submit">${view.replyTo === undefined ? 'Comment' : 'Reply'}</button></div>
</form>`
  return page(context, {
    title: `${post.channel}'s post`,
    scripts: [localTimesJs.url],
    width: 'wide',
    body: `<div class="community post-page">
<p><a href="${communityPath(post.channel)}">← ${escapeHtml(post.channel)}'s Community</a></p>
<h1 class="skip">${escapeHtml(post.channel)}'s post</h1>
${view.card}
<section class="post-comments" id="comments" aria-labelledby="comments-heading"><h2 id="comments-heading">${plural(post.comments, 'comment', 'comments')}</h2>
${comments}
${form}
</section>
</div>`,
  })
}

export function editPostPage(context: PageContext, view: {post: PostDoc; form: string}): string {
  const path = postPath(view.post)
  return page(context, {
    title: 'Edit post',
    width: 'wide',
    body: `<div class="community"><h1>Edit post</h1>
${view.form}
<form class="post-delete" method="post" action="${path}/delete">${csrfField(context.csrfToken)}<button class="danger" type="submit">Delete this post</button> <span class="hint">Its comments, likes and pictures go with it.</span></form>
<p><a href="${path}">Back to the post</a></p></div>`,
  })
}

/** The newest posts on the channel's own page (the same for every visitor: the page is cached). */
export function channelPostsSection(channel: string, posts: readonly PostDoc[]): string {
  const items = posts.map((post) => {
    return `<li><a href="${postPath(post)}">${escapeHtml(postExcerpt(post.html, 140) || 'A post')}</a><span class="muted">${when(post.createdAt)} · ${plural(post.likes, 'like', 'likes')} · ${plural(post.comments, 'comment', 'comments')}</span></li>`
  })
  return `<section class="community-latest" id="community" aria-labelledby="community-heading"><h2 id="community-heading"><a href="${communityPath(channel)}">Community</a></h2>${items.length === 0 ? `<p class="muted">No posts yet.</p>` : `<ul class="post-list">${items.join('')}</ul>`}<p><a href="${communityPath(channel)}">All posts</a></p></section>`
}

/** A VOD's or clip's label in the link picker. */
export const vodChoiceLabel = (startedAt: Date, durationSeconds: number): string => `Past broadcast · ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (${formatDuration(durationSeconds)})`
export const clipPosterUrl = (clipId: string): string => clipMedia(clipId, 'poster.jpg')

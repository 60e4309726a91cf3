/**
 * A channel's posts on the web: its Community tab (/c/<channel>/posts, newest first, paged by a
 * cursor), each post's page with its comments, and the forms that write, edit, delete, like,
 * comment on and report them. A post is written by the channel's owner (chat moderators moderate
 * the chat, not the channel's voice); a comment is removed by its author or the channel's owner.
 * Every form is CSRF-protected (the multipart ones check their first field themselves) and every
 * write is rate-limited per account.
 */
import multipart from '@fastify/multipart'
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'
import type {Redis} from 'ioredis'
import {ObjectId, type Db} from 'mongodb'

import {USERNAME_PATTERN, Users} from '../accounts/users.js'
import {REPORT_LIMIT} from '../admin/report-routes.js'
import {reportFormPage, reportSentPage} from '../admin/moderation-pages.js'
import {isReportReason, REPORT_DETAILS_MAX, Reports, type ReportTarget} from '../admin/reports.js'
import {Channels, type ChannelDoc} from '../channels/channels.js'
import {channelImageUrl, IMAGE_UPLOAD_LIMIT_BYTES, ImageUploadError, tooLargeMessage} from '../channels/images.js'
import {Clips} from '../clips/clips.js'
import {CHANNEL_PATTERN} from '../contract/index.js'
import type {JobQueues} from '../jobs/queues.js'
import type {Logger} from '../platform/logger.js'
import {isMissingObject, type Storage} from '../platform/storage.js'
import {TtlCache} from '../platform/ttl-cache.js'
import {listVods, streamStartedAt, vodPreviewUrls} from '../vods/vods.js'
import {IMMUTABLE} from '../web/assets.js'
import {formText, notFoundPage, sendPage, viewerOrLogIn, type PageContext, type PageContextOf} from '../web/html.js'
import {verifyCsrfToken} from '../web/security.js'
import {mentionsIn, normalizePostText, postMarkdownRefusal, renderPostMarkdown} from './markdown.js'
import {withinMentionBudget} from './mention-budget.js'
import {queuePostEvent} from './post-events.js'
import {notify} from './notifications.js'
import {POST_IMAGE_OBJECT, postImagePrefix, removePostImages, renderPostImage, storePostImage} from './post-images.js'
import {removePost} from './post-removal.js'
import {COMMENT_MAX, PostComments, PostLikes, type CommentDoc} from './post-reactions.js'
import {
  channelPostsSection,
  clipPosterUrl,
  communityPage,
  communityPath,
  editPostPage,
  postCard,
  postForm,
  postPage,
  postPath,
  vodChoiceLabel,
  type LinkChoice,
} from './post-view.js'
import {decodePostCursor, encodePostCursor, POST_IMAGES_MAX, Posts, postObjectId, type PostDoc, type PostImage, type PostLink} from './posts.js'

export interface PostRoutesOptions {
  db: Db
  redis: Redis
  storage: Storage
  jobs: JobQueues
  pageContext: PageContextOf
  log: Logger
}

/** Posts on a Community tab's page. */
const PAGE_SIZE = 10

/** Writing: enough for a busy streamer, too few to flood followers' timelines. */
const WRITE_LIMIT = {max: 30, timeWindow: '1 hour', hook: 'preHandler', keyGenerator: (request: FastifyRequest) => `posts:user:${request.viewer?.id ?? request.ip}`} as const
/** Likes and comments: a lively conversation, not a script. */
const REACT_LIMIT = {max: 60, timeWindow: 60_000, hook: 'preHandler', keyGenerator: (request: FastifyRequest) => `post-reactions:user:${request.viewer?.id ?? request.ip}`} as const

type PostParams = {channel: string; postId: string}
type Body = Record<string, unknown>

/** What a post's form sent: its fields read, its pictures drawn again (or why not). */
interface PostFormInput {
  markdown: string
  link: string
  keep: string[]
  images: {data: Buffer; width: number; height: number}[]
  error?: string
}

/** Reads a multipart post form: the CSRF field first (checked before any file is read), then the rest. */
async function readPostForm(app: FastifyInstance, request: FastifyRequest): Promise<PostFormInput> {
  const form: PostFormInput = {markdown: '', link: '', keep: [], images: []}
  let checked = false
  try {
    for await (const part of request.parts()) {
      if (!checked) {
        // A browser sends the fields in the form's order: ours has _csrf first.
        const token = part.type === 'field' && part.fieldname === '_csrf' ? formText(part.value) : ''
        if (part.type === 'file') part.file.resume()
        await verifyCsrfToken(app, request, token)
        checked = true
        continue
      }
      if (part.type === 'file') {
        const upload = await part.toBuffer()
        // A browser sends the file field empty when nothing was chosen.
        if (upload.length === 0) continue
        if (form.images.length >= POST_IMAGES_MAX) {
          form.error ??= `A post holds at most ${POST_IMAGES_MAX} pictures.`
          continue
        }
        try {
          form.images.push(await renderPostImage(upload))
        } catch (error) {
          if (!(error instanceof ImageUploadError)) throw error
          form.error ??= error.message
        }
        continue
      }
      const value = formText(part.value)
      if (part.fieldname === 'markdown') form.markdown = value
      else if (part.fieldname === 'link') form.link = value
      else if (part.fieldname === 'keep') form.keep.push(value)
    }
  } catch (error) {
    if (error instanceof app.multipartErrors.RequestFileTooLargeError) return {...form, error: tooLargeMessage}
    if (error instanceof app.multipartErrors.FilesLimitError) return {...form, error: `A post holds at most ${POST_IMAGES_MAX} pictures.`}
    if (error instanceof app.multipartErrors.InvalidMultipartContentTypeError) {
      await verifyCsrfToken(app, request, '')
    }
    throw error
  }
  if (!checked) await verifyCsrfToken(app, request, '')
  return form
}

/** Reads what a refused multipart form sent and drops it, so that the refusal reaches the browser. */
async function dropParts(request: FastifyRequest): Promise<void> {
  if (!request.isMultipart()) return
  try {
    for await (const part of request.parts()) if (part.type === 'file') part.file.resume()
  } catch (error) {
    // Over a limit or cut short: nothing of it is kept either way.
    request.log.debug({err: (error as Error).message}, 'a refused form was not read to its end')
  }
}

export async function postRoutes(app: FastifyInstance, options: PostRoutesOptions): Promise<void> {
  const {db, storage, jobs, pageContext, log} = options
  const posts = new Posts(db)
  const likes = new PostLikes(db, posts)
  const comments = new PostComments(db, posts)
  const channels = new Channels(db)
  const users = new Users(db)
  const clips = new Clips(db)
  const reports = new Reports(db)
  void Promise.all([posts.ensureIndexes(), likes.ensureIndexes(), comments.ensureIndexes()]).catch((error: Error) => log.warn({err: error.message}, 'post indexes not made yet'))

  // Four pictures at 8 MB each, a post's text, its link, the pictures it keeps.
  await app.register(multipart, {limits: {fileSize: IMAGE_UPLOAD_LIMIT_BYTES, files: POST_IMAGES_MAX + 4, fields: 12, fieldSize: 32 * 1024, parts: 20}})

  const notFound = (request: FastifyRequest, reply: FastifyReply, what = 'There is no such post.'): FastifyReply => sendPage(reply, 404, notFoundPage(pageContext(request, reply), {what}))
  const forbidden = (request: FastifyRequest, reply: FastifyReply): FastifyReply => sendPage(reply, 403, notFoundPage(pageContext(request, reply), {title: 'Not yours', what: 'Only the channel\'s owner can do that.'}))

  const channelOf = async (name: string): Promise<ChannelDoc | null> => (CHANNEL_PATTERN.test(name) ? channels.byName(name) : null)
  /** The post at this address (its channel's, not another's), or null. */
  const postAt = async (params: PostParams): Promise<PostDoc | null> => {
    const id = postObjectId(params.postId)
    if (id === undefined || !CHANNEL_PATTERN.test(params.channel)) return null
    const post = await posts.byId(id)
    return post?.channel === params.channel ? post : null
  }
  const owns = (channel: ChannelDoc | null, userId: string | undefined): boolean => userId !== undefined && channel?.ownerId === userId

  /** What the owner may link a post to: the latest VODs and clips of the channel. */
  const linkChoices = async (channel: string): Promise<{choices: LinkChoice[]; resolve: (value: string) => PostLink | undefined}> => {
    const [vods, ready] = await Promise.all([listVods(db, channel, 30), clips.listReady(channel, 30)])
    const links = new Map<string, PostLink>()
    const choices: LinkChoice[] = []
    for (const v of vods) {
      const startedAt = streamStartedAt(v.streamId) ?? new Date(v.createdAt)
      const label = vodChoiceLabel(startedAt, v.durationSeconds)
      links.set(`vod:${v.streamId}`, {kind: 'vod', id: v.streamId, channel, title: label.replace(/^Past broadcast · /, 'Broadcast of '), ...(v.poster === undefined ? {} : {poster: vodPreviewUrls(channel, v.streamId).poster})})
      choices.push({value: `vod:${v.streamId}`, label})
    }
    for (const c of ready) {
      links.set(`clip:${c.clipId}`, {kind: 'clip', id: c.clipId, channel, title: c.title, ...(c.poster === true ? {poster: clipPosterUrl(c.clipId)} : {})})
      choices.push({value: `clip:${c.clipId}`, label: `Clip · ${c.title}`})
    }
    return {choices, resolve: (value) => links.get(value)}
  }

  const cardsFor = async (context: PageContext, list: readonly PostDoc[], viewerId: string | undefined, channel: ChannelDoc | null): Promise<string[]> => {
    const liked = viewerId === undefined ? new Set<string>() : await likes.likedOf(viewerId, list.map((p) => p._id))
    return list.map((post) => postCard(context, post, {liked: liked.has(post._id.toHexString()), canEdit: owns(channel, viewerId)}))
  }

  const showCommunity = async (request: FastifyRequest<{Params: {channel: string}; Querystring: {before?: string}}>, reply: FastifyReply, extra: {status?: number; form?: {markdown: string; link: string; error: string}; notice?: string} = {}): Promise<FastifyReply> => {
    const channel = await channelOf(request.params.channel)
    if (channel === null) return notFound(request, reply, 'There is no channel by that name.')
    const before = decodePostCursor(request.query.before)
    const viewerId = request.viewer?.id
    const mine = owns(channel, viewerId)
    const context = pageContext(request, reply, {form: mine})
    const list = await posts.ofChannel(channel.name, {...(before === undefined ? {} : {before}), limit: PAGE_SIZE + 1})
    const shown = list.slice(0, PAGE_SIZE)
    const last = shown.at(-1)
    const form = mine
      ? postForm(context, {channel: channel.name, action: communityPath(channel.name), choices: (await linkChoices(channel.name)).choices, submit: 'Post', ...(extra.form === undefined ? {} : {markdown: extra.form.markdown, link: extra.form.link, error: extra.form.error})})
      : undefined
    return sendPage(
      reply,
      extra.status ?? 200,
      communityPage(context, {
        channel: channel.name,
        ...(channel.images?.avatar === undefined ? {} : {avatarUrl: channelImageUrl(channel.name, channel.images.avatar)}),
        cards: await cardsFor(context, shown, viewerId, channel),
        ...(list.length > PAGE_SIZE && last !== undefined ? {older: `${communityPath(channel.name)}?before=${encodePostCursor(last)}`} : {}),
        first: before === undefined,
        ...(form === undefined ? {} : {form}),
        ...(extra.notice === undefined ? {} : {notice: extra.notice}),
      }),
    )
  }

  app.get<{Params: {channel: string}; Querystring: {before?: string}}>('/c/:channel/posts', async (request, reply) => showCommunity(request, reply, request.query.before === undefined && formText((request.query as Body).deleted) === '1' ? {notice: 'The post is deleted.'} : {}))

  // Write a post: multipart (its pictures), so the CSRF field is read and checked here.
  app.post<{Params: {channel: string}; Querystring: {before?: string}}>('/c/:channel/posts', {config: {csrf: false, rateLimit: WRITE_LIMIT}}, async (request, reply) => {
    const channel = await channelOf(request.params.channel)
    if (request.viewer === undefined || channel === null || !owns(channel, request.viewer.id)) {
      await dropParts(request)
      if (channel === null) return notFound(request, reply, 'There is no channel by that name.')
      return viewerOrLogIn(request, reply) === undefined ? reply : forbidden(request, reply)
    }
    const viewer = request.viewer
    const form = await readPostForm(app, request)
    const markdown = normalizePostText(form.markdown)
    const {resolve} = await linkChoices(channel.name)
    const link = form.link === '' ? undefined : resolve(form.link)
    const error = form.error ?? postMarkdownRefusal(markdown) ?? (form.link !== '' && link === undefined ? 'That broadcast or clip is not there any more: choose another.' : undefined)
    if (error !== undefined) return showCommunity(request, reply, {status: 400, form: {markdown, link: form.link, error}})
    const _id = new ObjectId()
    const images: PostImage[] = []
    for (const image of form.images) images.push(await storePostImage(storage, _id.toHexString(), image))
    const post: PostDoc = {_id, channel: channel.name, authorId: viewer.id, markdown, html: renderPostMarkdown(markdown), images, ...(link === undefined ? {} : {link}), createdAt: new Date(), likes: 0, comments: 0}
    await posts.insert(post)
    log.info({channel: channel.name, postId: _id.toHexString(), images: images.length, user: viewer.username}, 'post published')
    // Followers' timelines, notifications and webhooks hear of it on the worker; one not queued (Redis away), housekeeping queues later.
    await queuePostEvent(jobs, posts, post).catch((err: Error) => log.error({postId: _id.toHexString(), err: err.message}, 'post published, but its channel.event could not be queued (housekeeping will)'))
    return reply.redirect(postPath(post), 303)
  })

  const showPost = async (request: FastifyRequest<{Params: PostParams; Querystring: {reply?: string; before?: string}}>, reply: FastifyReply, extra: {status?: number; error?: string; draft?: string; replyTo?: CommentDoc} = {}): Promise<FastifyReply> => {
    const post = await postAt(request.params)
    if (post === null) return notFound(request, reply)
    const channel = await channels.byName(post.channel)
    const viewerId = request.viewer?.id
    const context = pageContext(request, reply)
    const [liked, shown, answering] = await Promise.all([
      viewerId === undefined ? Promise.resolve(new Set<string>()) : likes.likedOf(viewerId, [post._id]),
      comments.ofPost(post._id, decodePostCursor(request.query.before)),
      extra.replyTo !== undefined || request.query.reply === undefined ? Promise.resolve(null) : comments.byId(post._id, request.query.reply),
    ])
    const list = shown.comments
    const replyTo = extra.replyTo ?? answering ?? undefined
    return sendPage(
      reply,
      extra.status ?? 200,
      postPage(context, {
        post,
        card: postCard(context, post, {liked: liked.has(post._id.toHexString()), canEdit: owns(channel, viewerId), onItsPage: true}),
        comments: list,
        canDelete: (c) => viewerId !== undefined && (c.authorId === viewerId || owns(channel, viewerId)),
        ...(replyTo === undefined ? {} : {replyTo}),
        ...(shown.earlier === undefined ? {} : {earlier: shown.earlier}),
        ...(extra.error === undefined ? {} : {error: extra.error}),
        ...(extra.draft === undefined ? {} : {draft: extra.draft}),
      }),
    )
  }

  app.get<{Params: PostParams; Querystring: {reply?: string; before?: string}}>('/c/:channel/posts/:postId', async (request, reply) => showPost(request, reply))

  // A post's pictures, cached for good (a new picture is a new name); a disabled channel's answer 410 with its pages.
  app.get<{Params: PostParams & {object: string}}>('/c/:channel/posts/:postId/images/:object', async (request, reply) => {
    const {object} = request.params
    const missing = (): FastifyReply => reply.code(404).header('cache-control', 'no-store').send({error: 'not found'})
    const post = POST_IMAGE_OBJECT.test(object) ? await postAt(request.params) : null
    const key = `${postImagePrefix(request.params.postId)}${object}`
    if (post === null || !post.images.some((i) => i.key === key)) return missing()
    try {
      const stat = await storage.client.statObject(storage.bucket, key)
      return await reply.type('image/webp').header('cache-control', IMMUTABLE).header('content-length', stat.size).send(await storage.client.getObject(storage.bucket, key))
    } catch (error) {
      if (isMissingObject(error)) return missing()
      throw error
    }
  })

  /** The post, when the viewer owns its channel; otherwise undefined once the way to log in, a 404 or a 403 went out (after what was sent was read). */
  const ownPost = async (request: FastifyRequest<{Params: PostParams}>, reply: FastifyReply): Promise<{post: PostDoc; channel: ChannelDoc} | undefined> => {
    const post = await postAt(request.params)
    const channel = post === null ? null : await channels.byName(post.channel)
    if (post !== null && channel !== null && owns(channel, request.viewer?.id)) return {post, channel}
    await dropParts(request)
    if (viewerOrLogIn(request, reply) === undefined) return undefined
    if (post === null) notFound(request, reply)
    else forbidden(request, reply)
    return undefined
  }

  const editForm = async (context: PageContext, post: PostDoc, input?: {markdown: string; link: string; error: string}): Promise<string> =>
    postForm(context, {
      channel: post.channel,
      action: `${postPath(post)}/edit`,
      markdown: input?.markdown ?? post.markdown,
      link: input?.link ?? (post.link === undefined ? '' : `${post.link.kind}:${post.link.id}`),
      choices: await linkChoicesWithCurrent(post),
      current: post.images.map((image) => ({key: image.key, url: `${postPath(post)}/images/${image.key.slice(image.key.lastIndexOf('/') + 1)}`})),
      submit: 'Save',
      ...(input === undefined ? {} : {error: input.error}),
    })
  /** The channel's VODs and clips, and the post's own link even when it is older than those. */
  const linkChoicesWithCurrent = async (post: PostDoc): Promise<LinkChoice[]> => {
    const {choices} = await linkChoices(post.channel)
    const current = post.link === undefined ? undefined : `${post.link.kind}:${post.link.id}`
    if (current !== undefined && !choices.some((c) => c.value === current)) choices.unshift({value: current, label: post.link?.title ?? current})
    return choices
  }

  app.get<{Params: PostParams}>('/c/:channel/posts/:postId/edit', async (request, reply) => {
    const found = await ownPost(request, reply)
    if (found === undefined) return reply
    const context = pageContext(request, reply, {form: true})
    return sendPage(reply, 200, editPostPage(context, {post: found.post, form: await editForm(context, found.post)}))
  })

  app.post<{Params: PostParams}>('/c/:channel/posts/:postId/edit', {config: {csrf: false, rateLimit: WRITE_LIMIT}}, async (request, reply) => {
    const found = await ownPost(request, reply)
    if (found === undefined) return reply
    const {post} = found
    const form = await readPostForm(app, request)
    const markdown = normalizePostText(form.markdown)
    const kept = post.images.filter((image) => form.keep.includes(image.key))
    const current = post.link === undefined ? undefined : `${post.link.kind}:${post.link.id}`
    const link = form.link === '' ? undefined : form.link === current ? post.link : (await linkChoices(post.channel)).resolve(form.link)
    const error =
      form.error ??
      postMarkdownRefusal(markdown) ??
      (kept.length + form.images.length > POST_IMAGES_MAX ? `A post holds at most ${POST_IMAGES_MAX} pictures: untick some to add others.` : undefined) ??
      (form.link !== '' && link === undefined ? 'That broadcast or clip is not there any more: choose another.' : undefined)
    if (error !== undefined) {
      const context = pageContext(request, reply, {form: true})
      return sendPage(reply, 400, editPostPage(context, {post, form: await editForm(context, post, {markdown, link: form.link, error})}))
    }
    const added: PostImage[] = []
    for (const image of form.images) added.push(await storePostImage(storage, post._id.toHexString(), image))
    const images = [...kept, ...added.filter((a) => !kept.some((k) => k.key === a.key))]
    await posts.edit(post._id, {markdown, html: renderPostMarkdown(markdown), images, ...(link === undefined ? {} : {link})})
    const dropped = post.images.filter((image) => !images.some((i) => i.key === image.key)).map((i) => i.key)
    // A failure here leaves an orphan housekeeping removes later, never a hole in the post.
    await removePostImages(storage, dropped).catch((err: Error) => log.warn({postId: post._id.toHexString(), err: err.message}, 'removed pictures stay in S3 for now'))
    log.info({channel: post.channel, postId: post._id.toHexString(), user: request.viewer?.username}, 'post edited')
    return reply.redirect(postPath(post), 303)
  })

  app.post<{Params: PostParams}>('/c/:channel/posts/:postId/delete', {config: {rateLimit: WRITE_LIMIT}}, async (request, reply) => {
    const found = await ownPost(request, reply)
    if (found === undefined) return reply
    const {post} = found
    await removePost({db, storage, jobs, log}, post)
    log.info({channel: post.channel, postId: post._id.toHexString(), user: request.viewer?.username}, 'post deleted')
    return reply.redirect(`${communityPath(post.channel)}?deleted=1`, 303)
  })

  /** A form any logged-in viewer sends about a post: back to where the form was, the post's page otherwise. */
  const react = (path: string, act: (post: PostDoc, viewer: {id: string; username: string}) => Promise<unknown>): void => {
    app.post<{Params: PostParams}>(`/c/:channel/posts/:postId/${path}`, {config: {rateLimit: REACT_LIMIT}}, async (request, reply) => {
      const viewer = viewerOrLogIn(request, reply)
      if (viewer === undefined) return reply
      const post = await postAt(request.params)
      if (post === null) return notFound(request, reply)
      await act(post, viewer)
      return reply.redirect(`${backTo(request) ?? postPath(post)}#post-${post._id.toHexString()}`, 303)
    })
  }
  react('like', (post, viewer) => likes.like(post._id, viewer.id))
  react('unlike', (post, viewer) => likes.unlike(post._id, viewer.id))

  app.post<{Params: PostParams; Body: Body; Querystring: {reply?: string}}>('/c/:channel/posts/:postId/comments', {config: {rateLimit: REACT_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const post = await postAt(request.params)
    if (post === null) return notFound(request, reply)
    const text = normalizePostText(formText(request.body?.text))
    const replyId = formText(request.body?.replyTo)
    const answered = replyId === '' ? undefined : await comments.byId(post._id, replyId)
    const refuse = (error: string): Promise<FastifyReply> => showPost(request, reply, {status: 400, error, draft: text, ...(answered === undefined || answered === null ? {} : {replyTo: answered})})
    if (text === '') return refuse('Write something first.')
    if (text.length > COMMENT_MAX) return refuse(`A comment holds at most ${COMMENT_MAX} characters.`)
    if (answered === null) return refuse('The comment you answer is not there any more.')
    const comment = await comments.add({
      postId: post._id,
      channel: post.channel,
      authorId: viewer.id,
      author: viewer.username,
      text,
      // One level: a reply to a reply answers the same post, naming whom it answers.
      ...(answered === undefined ? {} : {replyTo: {commentId: answered._id.toHexString(), userId: answered.authorId, author: answered.author}}),
    })
    await tellThem(post, comment).catch((err: Error) => log.warn({postId: post._id.toHexString(), err: err.message}, 'comment saved; its notifications were not sent'))
    return reply.redirect(`${postPath(post)}#comment-${comment._id.toHexString()}`, 303)
  })

  /** The one it answers hears of a reply; each @username named (but the writer and that one) of a mention. */
  const tellThem = async (post: PostDoc, comment: CommentDoc): Promise<void> => {
    const deps = {db, redis: options.redis, jobs, log}
    const url = `${postPath(post)}#comment-${comment._id.toHexString()}`
    const excerpt = comment.text.length > 120 ? `${comment.text.slice(0, 119)}…` : comment.text
    const commentId = comment._id.toHexString()
    if (comment.replyTo !== undefined && comment.replyTo.userId !== comment.authorId) {
      await notify(deps, {kind: 'reply', key: `reply:${commentId}`, userIds: [comment.replyTo.userId], actor: comment.author, channel: post.channel, text: `${comment.author} replied: ${excerpt}`, url})
    }
    const names = mentionsIn(comment.text).filter((name) => USERNAME_PATTERN.test(name))
    if (names.length === 0) return
    const found = await Promise.all(names.map((name) => users.byUsername(name)))
    // Only accounts in use (as chat mentions), and no more people than the writer's budget (community/mention-budget.ts).
    const named = found.filter((u) => u !== null && u.status === 'active').map((u) => u!._id.toHexString()).filter((id) => id !== comment.authorId && id !== comment.replyTo?.userId)
    const userIds = await withinMentionBudget(options.redis, comment.authorId, [...new Set(named)])
    if (userIds.length < named.length) log.info({commentId, user: comment.author, named: named.length, notified: userIds.length}, 'mentions beyond the writer\'s budget not notified')
    if (userIds.length > 0) await notify(deps, {kind: 'mention', key: `mention:${commentId}`, userIds, actor: comment.author, channel: post.channel, text: `${comment.author} mentioned you: ${excerpt}`, url})
  }

  app.post<{Params: PostParams & {commentId: string}}>('/c/:channel/posts/:postId/comments/:commentId/delete', {config: {rateLimit: REACT_LIMIT}}, async (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return reply
    const post = await postAt(request.params)
    const comment = post === null ? null : await comments.byId(post._id, request.params.commentId)
    if (post === null || comment === null) return notFound(request, reply, 'There is no such comment.')
    if (comment.authorId !== viewer.id && !owns(await channels.byName(post.channel), viewer.id)) return forbidden(request, reply)
    await comments.remove(comment)
    log.info({postId: post._id.toHexString(), commentId: comment._id.toHexString(), user: viewer.username}, 'comment deleted')
    return reply.redirect(`${postPath(post)}#comments`, 303)
  })

  // Reports of a post or a comment go to the site's moderators, beside reports of channels.
  type ReportParams = PostParams & {commentId?: string}
  const reportable = async (request: FastifyRequest<{Params: ReportParams}>, reply: FastifyReply): Promise<{viewer: {id: string; username: string}; post: PostDoc; target: ReportTarget; what: string} | undefined> => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return undefined
    const post = await postAt(request.params)
    if (post === null) {
      notFound(request, reply)
      return undefined
    }
    const excerptOf = (text: string): string => (text.length > 200 ? `${text.slice(0, 199)}…` : text)
    if (request.params.commentId === undefined) return {viewer, post, what: `${post.channel}'s post`, target: {kind: 'post', id: post._id.toHexString(), url: postPath(post), excerpt: excerptOf(post.markdown)}}
    const comment = await comments.byId(post._id, request.params.commentId)
    if (comment === null) {
      notFound(request, reply, 'There is no such comment.')
      return undefined
    }
    return {viewer, post, what: `a comment by ${comment.author}`, target: {kind: 'comment', id: comment._id.toHexString(), url: `${postPath(post)}#comment-${comment._id.toHexString()}`, excerpt: excerptOf(comment.text)}}
  }
  const reportAction = (request: FastifyRequest<{Params: ReportParams}>): string => `${postPath({channel: request.params.channel, _id: new ObjectId(request.params.postId)})}${request.params.commentId === undefined ? '' : `/comments/${request.params.commentId}`}/report`

  for (const path of ['/c/:channel/posts/:postId/report', '/c/:channel/posts/:postId/comments/:commentId/report']) {
    app.get<{Params: ReportParams}>(path, async (request, reply) => {
      const found = await reportable(request, reply)
      if (found === undefined) return reply
      const mine = await reports.openOf(found.post.channel, found.viewer.id, found.target)
      return sendPage(
        reply,
        200,
        reportFormPage(pageContext(request, reply, {form: true}), {
          channel: found.post.channel,
          updating: mine !== null,
          target: {what: found.what, action: reportAction(request), back: found.target.url},
          ...(mine === null ? {} : {reason: mine.reason, ...(mine.details === undefined ? {} : {details: mine.details})}),
        }),
      )
    })
    app.post<{Params: ReportParams; Body: Body}>(path, {config: {rateLimit: REPORT_LIMIT}}, async (request, reply) => {
      const found = await reportable(request, reply)
      if (found === undefined) return reply
      const reason = formText(request.body?.reason)
      const details = formText(request.body?.details).trim()
      const target = {what: found.what, action: reportAction(request), back: found.target.url}
      const refuse = (error: string): FastifyReply =>
        sendPage(reply, 400, reportFormPage(pageContext(request, reply, {form: true}), {channel: found.post.channel, details, error, updating: false, target, ...(isReportReason(reason) ? {reason} : {})}))
      if (!isReportReason(reason)) return refuse('Choose what is wrong with it.')
      if (details.length > REPORT_DETAILS_MAX) return refuse(`Keep the details to ${REPORT_DETAILS_MAX} characters.`)
      const outcome = await reports.file({channel: found.post.channel, reporterId: found.viewer.id, reporter: found.viewer.username, reason, target: found.target, ...(details === '' ? {} : {details})})
      log.info({channel: found.post.channel, target: found.target.kind, id: found.target.id, reporter: found.viewer.username, reason, outcome}, 'post reported')
      return sendPage(reply, 200, reportSentPage(pageContext(request, reply), {channel: found.post.channel, updated: outcome === 'updated'}))
    })
  }
}

/** Where a like form came from, when it is a page of this site (the Community tab, a timeline). */
function backTo(request: FastifyRequest): string | undefined {
  try {
    const referer = new URL(request.headers.referer ?? '')
    if (referer.host !== request.host || !referer.pathname.startsWith('/') || referer.pathname.startsWith('//')) return undefined
    return referer.pathname + referer.search
  } catch {
    return undefined
  }
}

/** The newest posts of a channel for its own page (kept 2 s, like its clips: the page is cached). */
export function channelPostsOf(db: Db): (channel: string) => Promise<string> {
  const posts = new Posts(db)
  const cache = new TtlCache<string, string>(2000)
  return (channel) => cache.get(channel, async () => channelPostsSection(channel, await posts.ofChannel(channel, {limit: 3})))
}

/**
 * Web: the UI and API. Each domain brings its routes as a fastify plugin; this wires them onto
 * the component's HTTP server (which already answers /healthz and /metrics), behind the security
 * every request goes through (headers, sessions, CSRF, rate limits: web/security.ts).
 */
import type {FastifyRequest} from 'fastify'

import {accountRoutes, loadViewer} from '../accounts/routes.js'
import {registerApiAuth} from '../api/auth.js'
import {apiRoutes} from '../api/routes.js'
import {tokenRoutes} from '../api/token-routes.js'
import {AccessTokens} from '../api/tokens.js'
import {adminArea} from '../admin/area.js'
import {moderationArea} from '../admin/moderation-area.js'
import {nodesArea} from '../admin/nodes-page.js'
import {jobsDashboard} from '../admin/jobs-dashboard.js'
import {reportRoutes} from '../admin/report-routes.js'
import {RedisSessionStore, VISITOR_SESSION_TTL_SECONDS} from '../accounts/sessions.js'
import {Users, type UserDoc} from '../accounts/users.js'
import {browseRoutes} from '../channels/browse.js'
import {Clips} from '../clips/clips.js'
import {clipBox} from '../clips/pages.js'
import {channelClipsSection, clipRoutes} from '../clips/routes.js'
import {chatRoutes} from '../chat/routes.js'
import {callRoutes, loadCallJs} from '../calls/pages.js'
import {startCallSignalling} from '../calls/signalling.js'
import {FollowBoxes, followRoutes} from '../community/follow-routes.js'
import {Follows} from '../community/follows.js'
import type {Notifier} from '../community/chat-notifications.js'
import {bellJs, loadUnreadCount, startBells} from '../community/notification-bell.js'
import {notificationRoutes} from '../community/notification-routes.js'
import {Notifications, notify} from '../community/notifications.js'
import {channelPostsOf, postRoutes} from '../community/post-routes.js'
import {Schedules} from '../community/schedule.js'
import {localTimesJs} from '../community/schedule-pages.js'
import {channelUpcomingSection, scheduleRoutes} from '../community/schedule-routes.js'
import {webhookRoutes} from '../community/webhook-routes.js'
import {Webhooks} from '../community/webhooks.js'
import {timelineRoutes} from '../community/timeline-routes.js'
import {ensureTimelineIndexes} from '../community/timelines.js'
import {ChatRooms} from '../chat/rooms.js'
import {ChatFloodGate} from '../chat/flood.js'
import {chatModerationRoutes} from '../chat/moderation-routes.js'
import {startChat} from '../chat/server.js'
import {dashboardRoutes} from '../channels/dashboard.js'
import {refuseDisabledChannels} from '../channels/disabled-gate.js'
import {dashboardJs} from '../channels/dashboard-pages.js'
import {goLiveJs, goLiveRoutes} from '../channels/go-live.js'
import {studioOf, studioRoutes} from '../channels/studio.js'
import {forwardBrowserIngest} from '../ingest/browser-forward.js'
import {Channels} from '../channels/channels.js'
import {ChannelDirectory} from '../channels/directory.js'
import {FrontPageData} from '../channels/front.js'
import {channelMediaRoutes} from '../channels/images.js'
import {LiveThumbnails, liveThumbnailRoutes} from '../channels/live-thumbnails.js'
import {scrubJs} from '../channels/vod-scrub.js'
import {channelRoutes} from '../channels/routes.js'
import {LiveStates} from '../channels/stream-state.js'
import {watchJs} from '../channels/watch-script.js'
import {registeredRoles} from '../contract/index.js'
import {JobQueues} from '../jobs/queues.js'
import {assignRoutes} from '../ingest/assign.js'
import {whipRoutes} from '../ingest/whip-forward.js'
import {whepRoutes} from '../realtime/whep.js'
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import type {ComponentDef} from '../platform/component.js'
import {apiError, createHttpServer, listen} from '../platform/http-server.js'
import {listNodes} from '../registry/nodes.js'
import {registryRoutes} from '../registry/routes.js'
import {vodRoutes} from '../vods/routes.js'
import {vodPreviewRoutes} from '../vods/preview-routes.js'
import {vodDownloadJs} from '../vods/download-script.js'
import {ensureVodIndexes} from '../vods/vods.js'
import {assetRoutes, audioPoster, loadHlsJs, loadSocketIoJs, siteCss} from '../web/assets.js'
import {chatJs} from '../chat/chat-script.js'
import {errorPage, homePage, notFoundPage, type PageContextOf} from '../web/html.js'
import {SiteSettings} from '../site/settings.js'
import {MicroCache} from '../web/microcache.js'
import {API_DOCS_PATH, registerApiDocs} from '../web/openapi.js'
import {AccountMail} from '../accounts/account-mail.js'
import {MailLinks} from '../accounts/mail-links.js'
import {accountMailRoutes} from '../accounts/mail-routes.js'
import {deleteAccount, type AccountRemoval} from '../admin/delete-account.js'
import {AuditLog} from '../admin/audit.js'
import {TwoFactor} from '../accounts/two-factor.js'
import {createOutbox, smtpSettings} from '../mail/mailer.js'
import {registerSecurity, SESSION_COOKIE} from '../web/security.js'

/** What an error page says, by status, to someone who filled in a form or followed a link. */
function errorText(status: number, message: string): {title: string; message: string} {
  if (/csrf/i.test(message)) return {title: 'This form has expired', message: 'The form was too old, or it was sent from another site. Go back, reload the page and try again.'}
  if (status === 429) return {title: 'Too many attempts', message}
  if (status >= 500) return {title: 'Something went wrong', message: 'Something went wrong on our side (the server logged it). Try again in a moment.'}
  return {title: 'That did not work', message}
}

/** Where a refused form came from, when it is this site: the error page links back to it. */
function refererPath(request: FastifyRequest): string | undefined {
  try {
    const referer = new URL(request.headers.referer ?? '')
    return referer.host === request.host ? referer.pathname : undefined
  } catch {
    return undefined
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The site's title from its settings (admin area), for the page header. */
    siteTitle?: string
  }
}

export const web: ComponentDef<'web'> = {
  name: 'web',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey', 'streamKeySecret', 'sessionSecret'],
  start: async (ctx) => {
    const {log, metrics, redis, env} = ctx
    const mongo = ctx.mongo()
    const storage = ctx.storage()
    const siteName = new URL(env.SHING_PUBLIC_URL).hostname
    for (const role of registeredRoles) {
      metrics.gauge(`shing_web_registered_${role}`, `Live ${role} processes in the registry`, async () => (await listNodes(redis, role)).length)
    }
    const liveStates = new LiveStates(redis, log.child({module: 'streams'}))
    liveStates.start()
    const channels = new ChannelDirectory(mongo.db)
    const users = new Users(mongo.db)
    const tokens = new AccessTokens(mongo.db)
    const chatRooms = new ChatRooms(mongo.db)
    const followBoxes = new FollowBoxes(mongo.db)
    // MongoDB may come up after the web: the indexes are made as soon as it answers.
    let stopped = false
    void (async () => {
      for (let attempt = 1; !stopped; attempt++) {
        try {
          await users.ensureIndexes()
          await tokens.ensureIndexes()
          await new Channels(mongo.db).ensureIndexes()
          await ensureVodIndexes(mongo.db)
          await chatRooms.store.ensureIndexes()
          await new Follows(mongo.db).ensureIndexes()
          await new Notifications(mongo.db).ensureIndexes()
          await new Schedules(mongo.db).ensureIndexes()
          await new Webhooks(mongo.db).ensureIndexes()
          await ensureTimelineIndexes(mongo.db)
          await new Clips(mongo.db).ensureIndexes()
          return
        } catch (error) {
          if (attempt === 1 || attempt % 12 === 0) log.warn({err: (error as Error).message}, 'indexes not made yet: MongoDB unavailable; retrying')
          await new Promise((resolve) => setTimeout(resolve, 5000).unref())
        }
      }
    })()
    const sessions = new RedisSessionStore(redis)

    const settings = new SiteSettings(mongo.db, siteName)
    const pageContext: PageContextOf = (request, reply, options) => ({
      siteName: request.siteTitle ?? siteName,
      viewer: request.viewer,
      // A token only where a form is (or the log-out button): anonymous pages make no session.
      csrfToken: request.viewer !== undefined || options?.form === true ? reply.generateCsrf() : undefined,
      ...(request.viewer === undefined ? {} : {bell: {...(request.unreadNotifications === undefined ? {} : {unread: request.unreadNotifications}), scripts: [socketIoJs.url, bellJs.url]}}),
    })
    const wantsPage = (url: string): boolean => !url.startsWith('/api/')
    const hlsJs = await loadHlsJs()
    const socketIoJs = await loadSocketIoJs()
    const callJs = await loadCallJs()
    // Pages alike for every visitor without a session, answered from the last one for 2 s.
    const checks = [redisCheck(redis), mongoCheck(mongo), s3Check(storage)]
    const microcache = new MicroCache(2000, SESSION_COOKIE)
    metrics.gauge('shing_web_microcache_hits', 'Answers served from the micro-cache since start', () => microcache.hits)
    const app = createHttpServer({
      component: 'web',
      before: (request, response) => microcache.serve(request, response),
      checks,
      metrics,
      log,
      // The edge (Caddy) is the one proxy in front: its X-Forwarded-For names the client.
      trustProxy: 1,
      // Pages get a page; the API gets JSON. Neither repeats the path it was asked for.
      notFound: (request, reply) =>
        wantsPage(request.url)
          ? reply.code(404).type('text/html; charset=utf-8').send(notFoundPage(pageContext(request, reply), {what: 'There is nothing at this address.'}))
          : reply.code(404).header('cache-control', 'no-store').send(apiError(404, `There is nothing at this address: the API is described at ${API_DOCS_PATH}.`)),
      errorPage: (request, reply, status, message) => {
        if (!wantsPage(request.url)) return undefined
        const {title, message: text} = errorText(status, message)
        return reply.code(status).type('text/html; charset=utf-8').send(errorPage({siteName: request.siteTitle ?? siteName, viewer: request.viewer}, {title, message: text, back: refererPath(request)}))
      },
    })
    microcache.register(app)
    await registerSecurity(app, {publicUrl: env.SHING_PUBLIC_URL, relayDirectOrigin: env.SHING_RELAY_DIRECT_ORIGIN, redis, sessionSecret: ctx.secret('sessionSecret'), sessionStore: sessions, sessionTtlSeconds: VISITOR_SESSION_TTL_SECONDS})
    loadViewer(app, users, log.child({module: 'accounts'}))
    loadUnreadCount(app, mongo.db, log.child({module: 'notifications'}))
    registerApiAuth(app, {tokens, users, log: log.child({module: 'api'})})
    app.decorateRequest('siteTitle', undefined)
    app.addHook('preHandler', async (request) => {
      request.siteTitle = (await settings.get()).title
    })
    const jobs = new JobQueues(ctx.redisEndpoint, redis, log.child({module: 'jobs'}))
    const notifier: Notifier = (input) => notify({db: mongo.db, redis, jobs, log: log.child({module: 'notifications'})}, input)
    const deleteArchive = async (channel: string, streamId: string): Promise<void> => {
      await jobs.enqueue('vod.delete', {channel, streamId})
    }
    const front = new FrontPageData(mongo.db, redis, liveStates, log.child({module: 'front'}))
    // Before any route: the document describes the routes registered after it.
    await registerApiDocs(app, {siteName})
    app.get('/', {config: {microcache: true}}, async (request, reply) =>
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(homePage(pageContext(request, reply), await front.get())),
    )
    await app.register(assetRoutes, {assets: [hlsJs, watchJs, dashboardJs, goLiveJs, siteCss, audioPoster, socketIoJs, chatJs, scrubJs, vodDownloadJs, localTimesJs, bellJs, callJs]})
    await app.register(registryRoutes, {redis})
    await app.register(assignRoutes, {redis, publicHost: env.SHING_PUBLIC_HOST})
    await app.register(whipRoutes, {redis, log: log.child({module: 'whip'})})
    await app.register(whepRoutes, {redis, streamKeySecret: ctx.secret('streamKeySecret'), publicHost: env.SHING_PUBLIC_HOST, registry: metrics.registry, log: log.child({module: 'whep'})})
    const outbox = createOutbox(smtpSettings(env), jobs)
    const mailLinks = new MailLinks(redis)
    const accountMail = new AccountMail(mailLinks, outbox, settings, env.SHING_PUBLIC_URL)
    const twoFactor = new TwoFactor(ctx.secret('sessionSecret'))
    const removeAccount = (user: UserDoc): Promise<AccountRemoval> =>
      deleteAccount({db: mongo.db, redis, storage, streamKeySecret: ctx.secret('streamKeySecret'), deleteArchive}, user).then(async (removal) => {
        await new AuditLog(mongo.db).record({actor: user.username, action: 'user.delete', target: user.username, details: {channels: removal.channels.join(' '), pastBroadcasts: removal.pastBroadcasts}})
        for (const name of removal.channels) channels.forget(name)
        return removal
      })
    await app.register(accountRoutes, {users, sessions, settings, mail: accountMail, twoFactor, deleteAccount: removeAccount, pageContext, log: log.child({module: 'accounts'})})
    await app.register(accountMailRoutes, {
      users,
      sessions,
      links: mailLinks,
      mail: accountMail,
      pageContext,
      ...(env.SHING_ADMIN_EMAIL === undefined ? {} : {adminEmail: env.SHING_ADMIN_EMAIL}),
      audit: (entry) => new AuditLog(mongo.db).record(entry),
      log: log.child({module: 'accounts'}),
    })
    await app.register(dashboardRoutes, {
      db: mongo.db,
      redis,
      streamKeySecret: ctx.secret('streamKeySecret'),
      publicHost: env.SHING_PUBLIC_HOST,
      rtmpPort: env.SHING_RTMP_PORT,
      publicUrl: env.SHING_PUBLIC_URL,
      deleteArchive,
      storage,
      goLiveRefusal: (viewer) => accountMail.goLiveRefusal(viewer),
      channelsPerAccount: async () => (await settings.get()).channelsPerAccount,
      vodDays: env.retention.vodDays,
      pageContext,
      log: log.child({module: 'dashboard'}),
    })
    await app.register(goLiveRoutes, {
      db: mongo.db,
      redis,
      streamKeySecret: ctx.secret('streamKeySecret'),
      profile: env.profile,
      goLiveRefusal: (viewer) => accountMail.goLiveRefusal(viewer),
      pageContext,
      log: log.child({module: 'go-live'}),
    })
    await app.register(adminArea, {db: mongo.db, redis, streamKeySecret: ctx.secret('streamKeySecret'), liveStates, settings, pageContext, log: log.child({module: 'admin'})})
    await app.register(jobsDashboard, {jobs, pageContext})
    await app.register(moderationArea, {db: mongo.db, redis, streamKeySecret: ctx.secret('streamKeySecret'), liveStates, pageContext, log: log.child({module: 'admin'}), notify: notifier, posts: {storage, jobs}})
    await app.register(nodesArea, {redis, checks, webId: ctx.id, pageContext})
    refuseDisabledChannels(app, {db: mongo.db, pageContext, log: log.child({module: 'channels'})})
    await app.register(reportRoutes, {db: mongo.db, pageContext, log: log.child({module: 'reports'})})
    await app.register(channelRoutes, {redis, db: mongo.db, channels, liveStates, pageContext, publicUrl: env.SHING_PUBLIC_URL, relayDirectOrigin: env.SHING_RELAY_DIRECT_ORIGIN, hlsJs, socketIoJs, followBox: (context, channel, viewer) => followBoxes.render(context, channel, viewer), clipBox: (context, channel, vod) => clipBox(context, {channel, maxSeconds: env.media.clips.maxSeconds, ...(vod === undefined ? {} : {vod})}), clipsSection: channelClipsSection(mongo.db), upcomingSection: channelUpcomingSection(mongo.db, liveStates), postsSection: channelPostsOf(mongo.db), log})
    await app.register(followRoutes, {db: mongo.db, boxes: followBoxes, liveStates, pageContext, log: log.child({module: 'follows'}), notify: notifier})
    await app.register(notificationRoutes, {db: mongo.db, redis, siteMails: outbox.enabled, pageContext, log: log.child({module: 'notifications'})})
    await app.register(postRoutes, {db: mongo.db, redis, storage, jobs, pageContext, log: log.child({module: 'posts'})})
    await app.register(scheduleRoutes, {db: mongo.db, jobs, liveStates, remindMinutesBefore: env.community.schedule.remindMinutesBefore, publicUrl: env.SHING_PUBLIC_URL, siteName, pageContext, log: log.child({module: 'schedule'})})
    await app.register(webhookRoutes, {db: mongo.db, allowPrivateAddresses: env.community.webhooks.allowPrivateAddresses, pageContext, log: log.child({module: 'webhooks'})})
    await app.register(timelineRoutes, {db: mongo.db, redis, settings: env.community.timelines, pageContext, log: log.child({module: 'timelines'})})
    await app.register(vodRoutes, {db: mongo.db, storage, channels, jobs, log: log.child({module: 'vods'}), vodDays: env.retention.vodDays})
    await app.register(tokenRoutes, {tokens, pageContext, log: log.child({module: 'api'})})
    await app.register(apiRoutes, {
      db: mongo.db,
      redis,
      users,
      streamKeySecret: ctx.secret('streamKeySecret'),
      publicHost: env.SHING_PUBLIC_HOST,
      rtmpPort: env.SHING_RTMP_PORT,
      goLiveRefusal: (viewer) => accountMail.goLiveRefusal(viewer),
      log: log.child({module: 'api'}),
    })
    await app.register(channelMediaRoutes, {storage})
    await app.register(liveThumbnailRoutes, {storage})
    await app.register(vodPreviewRoutes, {storage})
    await app.register(browseRoutes, {db: mongo.db, liveStates, pageContext, thumbnails: new LiveThumbnails(redis, log.child({module: 'thumbnails'}))})
    // Browser broadcasts' sockets go on to their ingest (Socket.IO leaves other paths alone).
    const stopForwarding = forwardBrowserIngest({server: app.server, redis, log: log.child({module: 'go-live'})})
    const chat = startChat({
      app,
      rooms: chatRooms,
      users,
      sessions,
      sessionSecret: ctx.secret('sessionSecret'),
      sessionCookie: SESSION_COOKIE,
      liveStates,
      redis,
      redisEndpoint: ctx.redisEndpoint,
      limits: env.chatLimits,
      siteMails: outbox.enabled,
      notify: notifier,
      metrics,
      log: log.child({module: 'chat'}),
    })
    const bells = startBells({io: chat.io, app, db: mongo.db, sessions, sessionSecret: ctx.secret('sessionSecret'), sessionCookie: SESSION_COOKIE, redisEndpoint: ctx.redisEndpoint, log: log.child({module: 'notifications'})})
    const calls = startCallSignalling({
      io: chat.io,
      app,
      users,
      sessions,
      sessionSecret: ctx.secret('sessionSecret'),
      sessionCookie: SESSION_COOKIE,
      streamKeySecret: ctx.secret('streamKeySecret'),
      publicHost: env.SHING_PUBLIC_HOST,
      redis,
      redisEndpoint: ctx.redisEndpoint,
      metrics,
      log: log.child({module: 'calls'}),
    })
    await app.register(callRoutes, {users, notify: notifier, socketIoJs, callJs, publicUrl: env.SHING_PUBLIC_URL, pageContext, studioOf: (room) => studioOf(mongo.db, room)})
    await app.register(studioRoutes, {
      db: mongo.db,
      redis,
      streamKeySecret: ctx.secret('streamKeySecret'),
      publicUrl: env.SHING_PUBLIC_URL,
      socketIoJs,
      callJs,
      goLiveRefusal: (viewer) => accountMail.goLiveRefusal(viewer),
      pageContext,
      log: log.child({module: 'studio'}),
    })
    await app.register(chatRoutes, {rooms: chatRooms, db: mongo.db, socketIoJs, pageContext, log: log.child({module: 'chat'})})
    await app.register(chatModerationRoutes, {rooms: chatRooms, users, chat, timeouts: new ChatFloodGate(redis, env.chatLimits), pageContext, log: log.child({module: 'chat'})})
    await app.register(clipRoutes, {db: mongo.db, redis, storage, jobs, rooms: chatRooms, media: env.media, hlsJs, pageContext, log: log.child({module: 'clips'})})
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})
    return {
      stop: async () => {
        stopped = true
        liveStates.stop()
        // Chat first: its viewers reconnect to another web instance while this one finishes.
        await bells.close()
        await calls.close()
        stopForwarding()
        await chat.close()
        await app.close()
        await jobs.close()
      },
    }
  },
}

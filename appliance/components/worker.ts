/** Worker: runs every job type's handler (worker/handlers/) with the profile's concurrency. */
import {mongoCheck, redisCheck, s3Check} from '../platform/checks.js'
import {createTransport, smtpSettings} from '../mail/mailer.js'
import type {ComponentDef} from '../platform/component.js'
import {readSecrets} from '../platform/env.js'
import {createHttpServer, listen} from '../platform/http-server.js'
import {handlers} from '../worker/handlers/index.js'
import {startJobRunner} from '../worker/job-runner.js'
import {workerCapabilities} from '../jobs/workers.js'
import {JobQueues} from '../jobs/queues.js'
import {scheduleThumbnailSweep} from '../channels/live-thumbnails.js'
import {scheduleNotificationDigest} from '../community/notification-mail.js'

export const worker: ComponentDef<'worker'> = {
  name: 'worker',
  secrets: ['mongoRootPassword', 's3AccessKey', 's3SecretKey'],
  start: async (ctx) => {
    const {log, metrics, redis, env} = ctx
    const mongo = ctx.mongo()
    const storage = ctx.storage()
    const smtp = smtpSettings(env)
    // The SMTP password is there only where the server wants a log-in.
    const password = smtp?.user === undefined ? undefined : (await readSecrets(env.SHING_SECRETS_DIR, ['smtpPassword'])).smtpPassword
    const mail = smtp === undefined ? undefined : {transport: createTransport(smtp, password), from: smtp.from}
    const jobs = new JobQueues(ctx.redisEndpoint, redis, log.child({module: 'jobs'}))
    const runner = await startJobRunner({
      handlers,
      context: {redis, log: log.child({module: 'jobs'}), db: mongo.db, storage, ...(mail === undefined ? {} : {mail}), jobs, media: env.media, retention: env.retention, community: env.community, publicUrl: env.SHING_PUBLIC_URL, profile: env.profile},
      redis,
      redisEndpoint: ctx.redisEndpoint,
      capabilities: workerCapabilities(env.profile.encoder.kind, env.SHING_WORKER_CAPABILITIES),
      concurrency: {general: env.profile.worker.concurrency, video: env.profile.worker.videoConcurrency},
      ...(env.SHING_TASK_NAME === undefined ? {} : {id: env.SHING_TASK_NAME}),
      metrics,
      log,
    })
    // Live channels' thumbnails are asked for by a recurring sweep (one scheduler entry, whoever declares it).
    await scheduleThumbnailSweep(jobs)
    await scheduleNotificationDigest(jobs)
    const app = createHttpServer({component: 'worker', checks: [redisCheck(redis), mongoCheck(mongo), s3Check(storage), runner.check], metrics, log})
    await listen(app, {port: ctx.ports.http, host: env.SHING_BIND_HOST, log})
    return {
      stop: async () => {
        await app.close()
        await runner.close()
        await jobs.close()
        mail?.transport.close()
      },
    }
  },
}

/**
 * Admin operations inside a running container, with the environment and secrets its component has:
 *
 *   node appliance/dist/admin.js <operation> '<input JSON>'
 *
 * The operations, their input and result schemas are in contract/admin.ts; `shing` runs this
 * through `docker exec` in a web container. It prints one line, an AdminReply, and exits 0 when
 * the operation succeeded, 1 otherwise.
 */
import pino from 'pino'

import type {AdminReply, SecretName} from './contract/index.js'
import {JobQueues} from './jobs/queues.js'
import {adminSecrets, errorReply, parseRequest, runOperation} from './admin/operations.js'
import {parseEnv, readSecrets, secret} from './platform/env.js'
import {connectMongo} from './platform/mongo.js'
import {closeRedis, connectRedis, parseHostPort} from './platform/redis.js'

async function main(): Promise<AdminReply> {
  try {
    const {name, input} = parseRequest(process.argv.slice(2))
    const env = parseEnv(process.env)
    const secrets = await readSecrets(env.SHING_SECRETS_DIR, ['redisPassword', ...adminSecrets])
    // A log would mix into the reply on stdout: connection trouble surfaces as the error instead.
    const quiet = pino({level: 'silent'})
    const redisEndpoint = {...parseHostPort(env.SHING_REDIS_HOST, 6379), password: secret(secrets, 'redisPassword')}
    const redis = connectRedis(redisEndpoint, quiet, 'shing-admin')
    const mongo = connectMongo(env.SHING_MONGO_HOST, secret(secrets, 'mongoRootPassword'), 'shing-admin')
    let jobs: JobQueues | undefined
    try {
      const ctx = {db: mongo.db, redis, secret: (key: SecretName) => secret(secrets, key), jobs: () => (jobs ??= new JobQueues(redisEndpoint, redis, quiet))}
      return {ok: true, result: await runOperation(name, input, ctx)}
    } finally {
      await Promise.all([closeRedis(redis), mongo.close(), jobs?.close()])
    }
  } catch (error) {
    return errorReply(error)
  }
}

const reply = await main()
process.stdout.write(`${JSON.stringify(reply)}\n`)
process.exitCode = reply.ok ? 0 : 1

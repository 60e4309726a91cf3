/**
 * Admin tasks inside a running container, with the environment and secrets the component has:
 *
 *   node dist/appliance/admin.js stream-key create <channel> [--json]
 *   node dist/appliance/admin.js stream-key list [<channel>] [--json]
 *   node dist/appliance/admin.js stream-key revoke <channel> [--key-id <id>] [--json]
 *
 * `shing stream-key …` runs it through `docker exec` in a web container. Results go to stdout
 * (JSON with --json), problems to stderr with exit 1 (2 for a wrong command line).
 */
import {pathToFileURL} from 'node:url'
import {parseArgs} from 'node:util'

import pino from 'pino'

import {ConfigError, parseEnv, readSecrets, secret} from './platform/env.js'
import {connectMongo} from './platform/mongo.js'
import {closeRedis, connectRedis, parseHostPort} from './platform/redis.js'
import {InvalidChannelError, StreamKeys, type CreatedStreamKey, type RevokeResult, type StreamKeyInfo} from './channels/stream-keys.js'

const USAGE = `usage: admin.js stream-key create <channel> [--json]
       admin.js stream-key list [<channel>] [--json]
       admin.js stream-key revoke <channel> [--key-id <id>] [--json]`

class UsageError extends Error {
  override name = 'UsageError'
}

type Command = {verb: 'create'; channel: string} | {verb: 'list'; channel?: string} | {verb: 'revoke'; channel: string; keyId?: string}

export function parseCommand(argv: readonly string[]): {command: Command; json: boolean} {
  const {values, positionals} = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {json: {type: 'boolean', default: false}, 'key-id': {type: 'string'}},
  })
  const [topic, verb, channel, ...rest] = positionals
  if (topic !== 'stream-key' || rest.length > 0) throw new UsageError(USAGE)
  const json = values.json === true
  const keyId = values['key-id']
  if (keyId !== undefined && verb !== 'revoke') throw new UsageError(`--key-id is for revoke only\n${USAGE}`)
  switch (verb) {
    case 'create':
    case 'revoke':
      if (channel === undefined) throw new UsageError(`${verb} needs a channel\n${USAGE}`)
      return verb === 'create' ? {command: {verb, channel}, json} : {command: {verb, channel, ...(keyId === undefined ? {} : {keyId})}, json}
    case 'list':
      return {command: {verb, ...(channel === undefined ? {} : {channel})}, json}
    default:
      throw new UsageError(USAGE)
  }
}

function render(verb: Command['verb'], result: CreatedStreamKey | StreamKeyInfo[] | RevokeResult): string {
  switch (verb) {
    case 'create': {
      const r = result as CreatedStreamKey
      return `Stream key for ${r.channel} (id ${r.keyId}); it is shown only now:\n${r.key}`
    }
    case 'list': {
      const keys = result as StreamKeyInfo[]
      if (keys.length === 0) return 'No stream keys.'
      return keys.map((k) => `${k.channel.padEnd(20)} ${k.keyId}  created ${k.createdAt}${k.revokedAt ? `  revoked ${k.revokedAt}` : ''}`).join('\n')
    }
    case 'revoke': {
      const r = result as RevokeResult
      return r.revoked.length === 0 ? `No live key of ${r.channel} to revoke.` : `Revoked ${r.revoked.length} key(s) of ${r.channel}: ${r.revoked.join(', ')}`
    }
  }
}

async function main(): Promise<void> {
  let json = process.argv.includes('--json')
  try {
    const parsed = parseCommand(process.argv.slice(2))
    json = parsed.json
    const {command} = parsed
    const env = parseEnv(process.env)
    const secrets = await readSecrets(env.SHING_SECRETS_DIR, ['redisPassword', 'mongoRootPassword', 'streamKeySecret'])
    // Its own log would mix into the result on stdout: connection trouble surfaces as the error instead.
    const quiet = pino({level: 'silent'})
    const redis = connectRedis({...parseHostPort(env.SHING_REDIS_HOST, 6379), password: secret(secrets, 'redisPassword')}, quiet, 'shing-admin')
    const mongo = connectMongo(env.SHING_MONGO_HOST, secret(secrets, 'mongoRootPassword'), 'shing-admin')
    try {
      const keys = new StreamKeys({db: mongo.db, redis, secret: secret(secrets, 'streamKeySecret')})
      const result =
        command.verb === 'create' ? await keys.create(command.channel) : command.verb === 'list' ? await keys.list(command.channel) : await keys.revoke(command.channel, command.keyId)
      process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${render(command.verb, result)}\n`)
    } finally {
      await Promise.all([closeRedis(redis), mongo.close()])
    }
  } catch (error) {
    const known = error instanceof UsageError || error instanceof ConfigError || error instanceof InvalidChannelError
    const message = error instanceof Error ? error.message : String(error)
    if (json) process.stdout.write(`${JSON.stringify({error: {kind: known ? 'abort' : 'bug', message}})}\n`)
    process.stderr.write(`admin: ${known ? message : (error instanceof Error ? (error.stack ?? message) : message)}\n`)
    process.exitCode = error instanceof UsageError ? 2 : 1
  }
}

// Only as the entry point: tests import parseCommand.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()

import {Redis} from 'ioredis'

import type {Logger} from './logger.js'

export interface RedisEndpoint {
  host: string
  port: number
  password: string
}

/** `host:port` (port 6379 when left out), as SHING_REDIS_HOST gives it. */
export function parseHostPort(value: string, defaultPort: number): {host: string; port: number} {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(value)
  if (match === null || match[1] === undefined) throw new Error(`not a host[:port]: ${value}`)
  return {host: match[1], port: match[2] === undefined ? defaultPort : Number(match[2])}
}

/** Backoff for reconnects: forever, never more than 2 s apart, so a restarted Redis is picked up fast. */
export const reconnectDelay = (attempt: number): number => Math.min(100 * 2 ** Math.min(attempt, 5), 2000)

/**
 * The component's general client. Commands fail after one retry instead of queueing for ever, so a
 * health check or a heartbeat answers while Redis is gone; the connection itself retries forever.
 */
export function connectRedis(endpoint: RedisEndpoint, log: Logger, name: string): Redis {
  const redis = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    password: endpoint.password,
    connectionName: name,
    retryStrategy: reconnectDelay,
    maxRetriesPerRequest: 1,
    commandTimeout: 3000,
  })
  let down = false
  redis.on('ready', () => {
    if (down) log.info('redis connection back')
    down = false
  })
  redis.on('error', (error: Error) => {
    // ioredis emits one error per failed reconnect: log the first of each outage only.
    if (!down) log.warn({err: error.message}, 'redis connection lost, reconnecting')
    down = true
  })
  return redis
}

/** BullMQ wants its own connections with no per-request retry limit: these are their options. */
export function bullConnection(endpoint: RedisEndpoint): {host: string; port: number; password: string; maxRetriesPerRequest: null; retryStrategy: (n: number) => number} {
  return {...endpoint, maxRetriesPerRequest: null, retryStrategy: reconnectDelay}
}

/** QUIT when connected (pending replies arrive), else drop the socket: shutdown never waits on a dead Redis. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await Promise.race([redis.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))])
  }
  redis.disconnect()
}

/**
 * TURN beside the SFU: Debian's coturn, started and stopped with the SFU process, for browsers
 * whose network lets no media through to the SFU's ports (UDP and TCP both blocked, or a strict
 * NAT). It relays only to this box's own announced address: a TURN server that relays anywhere
 * would let anyone with credentials reach the overlay network's services. Credentials are
 * time-limited and minted by the web (contract/calls.ts turnCredentials).
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {turnSecret} from '../contract/index.js'
import {executable, startBoundChild, type BoundChild} from '../platform/bound-child.js'
import type {Logger} from '../platform/logger.js'

export const TURNSERVER = '/usr/bin/turnserver'

export interface TurnSettings {
  port: number
  /** Where it listens (0.0.0.0 in a container). */
  bindHost: string
  /** The address browsers reach this box at, which is also the only peer it relays to (the SFU). */
  address: string
  /** The UDP ports it relays from (the part of ports.webrtc the SFU's workers leave). */
  relayPorts: {min: number; max: number}
  realm: string
  streamKeySecret: string
}

/** coturn's configuration (a file, mode 0600: it holds the secret). */
export function turnConfig(settings: TurnSettings, dir: string): string {
  const loopback = settings.address.startsWith('127.') || settings.address === '::1'
  return [
    `listening-port=${settings.port}`,
    ...(settings.bindHost === '0.0.0.0' ? [] : [`listening-ip=${settings.bindHost}`]),
    // Behind the container's NAT, it tells clients the box's address, not its own.
    ...(settings.bindHost === '0.0.0.0' ? [`external-ip=${settings.address}`] : [`relay-ip=${settings.bindHost}`]),
    `min-port=${settings.relayPorts.min}`,
    `max-port=${settings.relayPorts.max}`,
    'use-auth-secret',
    `static-auth-secret=${turnSecret(settings.streamKeySecret)}`,
    `realm=${settings.realm}`,
    'fingerprint',
    'no-cli',
    'no-tls',
    'no-dtls',
    'no-multicast-peers',
    // WebRTC relays UDP; a TCP relay would be a way to any TCP port of the box.
    'no-tcp-relay',
    'no-software-attribute',
    // Relayed media goes to this box's SFU and nowhere else.
    'denied-peer-ip=0.0.0.0-255.255.255.255',
    'denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    `allowed-peer-ip=${settings.address}`,
    ...(loopback ? ['allow-loopback-peers'] : []),
    // Each credential (an account's, for an hour) at most a few relays at once (a call takes two), each at most 4 Mbit/s.
    'user-quota=8',
    'max-bps=4000000',
    'stale-nonce=600',
    `pidfile=${path.join(dir, 'turnserver.pid')}`,
    'log-file=stdout',
    'simple-log',
    '',
  ].join('\n')
}

export interface RunningTurn {
  exited: Promise<string>
  stop(): Promise<void>
}

export async function startTurn(settings: TurnSettings, log: Logger): Promise<RunningTurn> {
  if (!executable(TURNSERVER)) throw new Error(`TURN is on (ports.turn), but ${TURNSERVER} is missing: install Debian's coturn, or remove ports.turn from shing.yaml`)
  if (settings.relayPorts.max < settings.relayPorts.min) {
    throw new Error(`TURN needs relay ports, but the SFU's workers take all of ports.webrtc: widen the range in shing.yaml (its ports past the workers' are TURN's)`)
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shing-turn-'))
  const file = path.join(dir, 'turnserver.conf')
  await writeFile(file, turnConfig(settings, dir), {mode: 0o600})
  let child: BoundChild
  try {
    // Its log is stdout (log-file=stdout), read here: at debug level, allocations are many.
    child = await startBoundChild({name: 'turnserver', binary: TURNSERVER, args: ['-c', file], stdout: true, onLine: (line) => log.debug(line), earlyExitMs: 500})
  } catch (error) {
    await rm(dir, {recursive: true, force: true})
    throw error
  }
  log.info({port: settings.port, relayPorts: `${settings.relayPorts.min}-${settings.relayPorts.max}`, address: settings.address}, 'TURN: browsers that cannot reach the SFU relay through here')
  void child.exited.then(() => rm(dir, {recursive: true, force: true}))
  return {exited: child.exited, stop: () => child.stop('SIGTERM', 3000)}
}

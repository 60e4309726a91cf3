/**
 * A chat load client for bench/chat.ts, run as its own process (forked with IPC) so that the
 * readers' work does not share an event loop with the orchestrator or the writers. Each reader is
 * one socket.io-client connection (WebSocket only, as the web's chat allows), reads only, and
 * counts what it receives: per step, the deliveries, those inside the window, and the latency of
 * every message sent inside the window (1 ms buckets).
 */
import {io, type Socket} from 'socket.io-client'

import {CHAT_SOCKET_PATH, type ChatClientEvents, type ChatServerEvents} from '../../appliance/contract/index.js'
import {parseMessageText, type ChatClientCommand, type ChatClientEvent, type StepTally} from './chat-load-protocol.js'

/** Latencies above this land in its bucket: a step that slow has failed anyway. */
const MAX_LATENCY_MS = 60_000
const CONNECT_TIMEOUT_MS = 30_000
const CONNECT_TRIES = 3

type Reader = Socket<ChatServerEvents, ChatClientEvents>

const emit = (event: ChatClientEvent): void => {
  process.send?.(event)
}

interface Step {
  from: number
  to: number
  received: number
  inWindow: number
  latency: Uint32Array
}

const steps = new Map<number, Step>()
const stepOf = (step: number): Step => {
  let tally = steps.get(step)
  if (tally === undefined) {
    // Not announced yet: counted, never inside a window until it is.
    tally = {from: Number.POSITIVE_INFINITY, to: Number.NEGATIVE_INFINITY, received: 0, inWindow: 0, latency: new Uint32Array(MAX_LATENCY_MS + 1)}
    steps.set(step, tally)
  }
  return tally
}

const readers: Reader[] = []
let disconnects = 0
let stopping = false

function onMessage(message: {text: string}): void {
  const now = Date.now()
  const parsed = parseMessageText(message.text)
  if (parsed === undefined) return
  const tally = stepOf(parsed.step)
  tally.received += 1
  if (now >= tally.from && now < tally.to) tally.inWindow += 1
  if (parsed.sentAt >= tally.from && parsed.sentAt < tally.to) tally.latency[Math.min(MAX_LATENCY_MS, Math.max(0, now - parsed.sentAt))]! += 1
}

/** One reader, connected and welcomed (it is in the room), or the reason it is not. */
function connectOne(target: string, channel: string): Promise<Reader> {
  return new Promise((resolve, reject) => {
    const socket: Reader = io(target, {path: CHAT_SOCKET_PATH, transports: ['websocket'], auth: {channel}, forceNew: true, reconnection: false, timeout: CONNECT_TIMEOUT_MS})
    const timer = setTimeout(() => fail(new Error(`no welcome within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS)
    const fail = (error: Error): void => {
      clearTimeout(timer)
      socket.removeAllListeners()
      socket.disconnect()
      reject(error)
    }
    socket.once('connect_error', fail)
    socket.once('welcome', () => {
      clearTimeout(timer)
      socket.off('connect_error', fail)
      socket.on('message', onMessage)
      socket.on('disconnect', () => {
        if (!stopping) disconnects += 1
      })
      resolve(socket)
    })
  })
}

async function connectAll(command: Extract<ChatClientCommand, {type: 'connect'}>): Promise<void> {
  let next = 0
  let failed = 0
  let firstError: string | undefined
  const worker = async (): Promise<void> => {
    for (let i = next++; i < command.sockets; i = next++) {
      const target = command.targets[(command.firstReader + i) % command.targets.length]!
      for (let attempt = 1; ; attempt++) {
        try {
          readers.push(await connectOne(target, command.channel))
          break
        } catch (error) {
          firstError ??= `${target}: ${(error as Error).message}`
          if (attempt === CONNECT_TRIES) {
            failed += 1
            break
          }
        }
      }
    }
  }
  await Promise.all(Array.from({length: Math.min(command.concurrency, command.sockets)}, worker))
  emit({type: 'connected', sockets: readers.length, failed, ...(firstError === undefined ? {} : {firstError})})
}

function report(step: number): StepTally {
  const tally = stepOf(step)
  const latency: number[] = []
  tally.latency.forEach((count, ms) => {
    if (count > 0) latency.push(ms, count)
  })
  return {received: tally.received, inWindow: tally.inWindow, latency}
}

process.on('message', (command: ChatClientCommand) => {
  switch (command.type) {
    case 'connect':
      connectAll(command).catch((error: unknown) => emit({type: 'failed', message: (error as Error).message}))
      break
    case 'window': {
      const tally = stepOf(command.step)
      tally.from = command.from
      tally.to = command.to
      break
    }
    case 'report':
      emit({type: 'report', step: command.step, tally: report(command.step), disconnects})
      break
    case 'stop':
      stopping = true
      for (const reader of readers) reader.disconnect()
      process.disconnect()
      break
  }
})
process.on('disconnect', () => {
  stopping = true
  for (const reader of readers) reader.disconnect()
  setTimeout(() => process.exit(0), 200).unref()
})

/**
 * A broadcast as the Go-live page sends one, for bench:ingest: the cached clip played at realtime
 * as Matroska (what Chromium's "video/webm;codecs=h264" is: H.264 copied, AAC → Opus, a cluster
 * every 250 ms as MediaRecorder's chunks come) over a WebSocket into the ingest's bridge: the same
 * ffmpeg command (bridgeArgs) publishing to RTMP.
 * The ticket and key checks are left out: they cost nothing per second of video.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import net from 'node:net'

import WebSocket, {WebSocketServer} from 'ws'

import {bridgeArgs} from '../../appliance/ingest/browser-ingest.js'
import {requireTool} from '../../test/harness/tools.js'
import type {SourceClip} from '../lib/source-clip.js'

export interface BrowserPublisher {
  /** The bridge's ffmpeg (the ingest's cost of the WebSocket path, beside the ladder). */
  bridgePid(): number | undefined
  stop(): Promise<void>
}

const MIME_TYPE = 'video/webm;codecs=h264,opus'
type BridgeTop = {fps: number; videoKbps: number; segmentSeconds: number}

const stopChild = async (child: ChildProcess | undefined): Promise<void> => {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

/** A WebSocket (client here → server here) into the bridge's ffmpeg, which publishes to `rtmpUrl`. */
async function webSocketBridge(rtmpUrl: string, top: BridgeTop): Promise<{send(chunk: Buffer): void; bridgePid(): number | undefined; stop(): Promise<void>}> {
  const server = new WebSocketServer({host: '127.0.0.1', port: 0, perMessageDeflate: false})
  await once(server, 'listening')
  let bridge: ChildProcess | undefined
  server.on('connection', (socket) => {
    bridge = spawn(requireTool('ffmpeg'), bridgeArgs(MIME_TYPE, rtmpUrl, top), {stdio: ['pipe', 'ignore', 'ignore']})
    const stdin = bridge.stdin!
    stdin.on('error', () => undefined)
    socket.on('message', (data: Buffer) => {
      if (!stdin.write(data)) {
        socket.pause()
        stdin.once('drain', () => socket.resume())
      }
    })
    socket.on('close', () => stdin.end())
  })
  const {port} = server.address() as {port: number}
  const client = new WebSocket(`ws://127.0.0.1:${port}`, {perMessageDeflate: false})
  await once(client, 'open')
  return {
    send: (chunk) => {
      if (client.readyState === WebSocket.OPEN) client.send(chunk)
    },
    bridgePid: () => bridge?.pid,
    stop: async () => {
      client.terminate()
      await stopChild(bridge)
      server.close()
    },
  }
}

/** The cached clip, looped at realtime, recorded as the page records and sent over the bridge. */
export async function publishOverWebSocket(clip: SourceClip, rtmpUrl: string, top: BridgeTop): Promise<BrowserPublisher> {
  const bridge = await webSocketBridge(rtmpUrl, top)
  const recorder = spawn(
    requireTool('ffmpeg'),
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip.file, '-c:v', 'copy', '-c:a', 'libopus', '-b:a', '128k', '-f', 'matroska', '-cluster_time_limit', '250', 'pipe:1'],
    {stdio: ['ignore', 'pipe', 'ignore']},
  )
  recorder.stdout!.on('data', (chunk: Buffer) => bridge.send(chunk))
  return {
    bridgePid: bridge.bridgePid,
    stop: async () => {
      await stopChild(recorder)
      await bridge.stop()
    },
  }
}

/**
 * For an encoder of the bench's own (the latency bench's flash publisher): a tcp:// URL it
 * writes its Matroska to; what arrives goes over the WebSocket into the bridge.
 */
export async function webSocketIngest(rtmpUrl: string, top: BridgeTop): Promise<BrowserPublisher & {url: string}> {
  const bridge = await webSocketBridge(rtmpUrl, top)
  const encoders = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    encoders.add(socket)
    socket.on('data', (chunk) => bridge.send(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => encoders.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    bridgePid: bridge.bridgePid,
    stop: async () => {
      for (const socket of encoders) socket.destroy()
      server.close()
      await bridge.stop()
    },
  }
}

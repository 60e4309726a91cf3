/**
 * bench:chat's baseline, run as its own process: plain Socket.IO with its in-memory adapter,
 * WebSocket only, one room. It speaks the chat's protocol (welcome; `send` → the same message
 * shape to the room, then the ack) so that the same clients measure both sides, and does nothing
 * else: no accounts, no checks, no storage, no other instance.
 *
 *   node --import tsx bench/lib/chat-baseline-server.ts <port>
 */
import http from 'node:http'

import {Server} from 'socket.io'

import {CHAT_SOCKET_PATH, type ChatClientEvents, type ChatServerEvents} from '../../appliance/contract/index.js'

const port = Number(process.argv[2])
const ROOM = 'chat'
const CHANNEL = 'baseline'

const server = http.createServer()
const io = new Server<ChatClientEvents, ChatServerEvents>(server, {path: CHAT_SOCKET_PATH, serveClient: false, transports: ['websocket']})
let sequence = 0

io.on('connection', (socket) => {
  void socket.join(ROOM)
  socket.emit('welcome', {channel: CHANNEL, history: [], settings: {slowModeSeconds: 0, linksAllowed: true, emoteOnly: false}, you: {permissions: []}})
  socket.on('send', (text, ack) => {
    const id = (sequence++).toString(16).padStart(24, '0')
    io.to(ROOM).emit('message', {id, channel: CHANNEL, user: 'writer', text, at: new Date().toISOString()})
    ack({ok: true, id})
  })
})

server.listen(port, '127.0.0.1', () => {
  console.log(`chat baseline listening on ${port}`)
})
process.on('SIGTERM', () => {
  io.close(() => process.exit(0))
})

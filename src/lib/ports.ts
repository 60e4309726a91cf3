import dgram from 'node:dgram'
import net from 'node:net'

/** Whether a TCP port can be bound on all interfaces right now. */
export function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({port, host: '0.0.0.0', exclusive: true}, () => server.close(() => resolve(true)))
  })
}

/** Whether a UDP port can be bound on all interfaces right now. */
export function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4')
    socket.once('error', () => {
      socket.close()
      resolve(false)
    })
    socket.bind({port, address: '0.0.0.0', exclusive: true}, () => socket.close(() => resolve(true)))
  })
}

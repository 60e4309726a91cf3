import {randomBytes} from 'node:crypto'
import {PassThrough} from 'node:stream'
import type Docker from 'dockerode'
import {expect, it} from 'vitest'
import {startDockerEngine} from '../harness/docker.js'
import {ensureImages} from '../harness/images.js'
import {waitFor} from '../harness/process.js'
import {markReal} from '../harness/real-part.js'
import {overlayEncryptionWorks, startSwarm} from '../harness/swarm.js'

async function timed<T>(step: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now()
  const result = await fn()
  process.stderr.write(`timing: ${step} ${Date.now() - started} ms\n`)
  return result
}

const seconds = (s: number): number => s * 1_000_000_000 // the engine takes durations in ns

/** Runs a one-off container to completion and returns its exit code and output. */
async function runOnce(docker: Docker, image: string, cmd: string[], hostConfig: Docker.HostConfig): Promise<{code: number; output: string}> {
  const out = new PassThrough()
  let output = ''
  out.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const [result] = (await docker.run(image, cmd, out, {Tty: true, HostConfig: {AutoRemove: true, ...hostConfig}})) as [
    {StatusCode: number},
  ]
  return {code: result.StatusCode, output}
}

// A tiny HTTP server; `node -e` so the base image needs nothing but node.
const server = (body: string): string =>
  `require('http').createServer((q, s) => s.end(${body})).listen(8080, () => console.log('listening on 8080'))`

it('docker', async (ctx) => {
  const engine = await timed('docker engine start', () => startDockerEngine())
  // Runs also when the test times out (a `finally` would not): nothing outlives the test.
  ctx.onTestFinished(() => timed('docker engine stop', () => engine.stop()))
  {
    const {docker} = engine
    const {base} = await timed('image base into private engine', () => ensureImages(docker, ['base']))
    const id = randomBytes(3).toString('hex')
    const labels = {'io.shing.test': 'conformance-docker'}

    const network = await docker.createNetwork({Name: `conf-net-${id}`, Driver: 'bridge', Labels: labels})
    const volume = await docker.createVolume({Name: `conf-vol-${id}`, Labels: labels})
    const container = await docker.createContainer({
      name: `conf-web-${id}`,
      Image: base,
      Labels: labels,
      // Writes to the volume, then serves what it wrote: healthy means volume and server both work.
      Cmd: [
        'node',
        '-e',
        `require('fs').writeFileSync('/data/greeting', 'hello-from-volume');` +
          server(`require('fs').readFileSync('/data/greeting')`),
      ],
      Healthcheck: {
        Test: ['CMD-SHELL', 'wget -q -O - http://127.0.0.1:8080/ | grep -q hello-from-volume'],
        Interval: seconds(0.2),
        Timeout: seconds(2),
        Retries: 3,
      },
      HostConfig: {
        NetworkMode: `conf-net-${id}`,
        Mounts: [{Type: 'volume', Source: `conf-vol-${id}`, Target: '/data'}],
      },
      Tty: true, // raw logs, no stream multiplexing
    })
    await container.start()
    await timed('container healthy', () =>
      waitFor(
        'the container to be healthy',
        async () => {
          const state = (await container.inspect()).State
          if (!state.Running) throw new Error(`container exited ${state.ExitCode}`)
          return state.Health?.Status === 'healthy'
        },
        {timeoutMs: 30_000, intervalMs: 100},
      ),
    )
    const logs = (await container.logs({stdout: true, stderr: true})).toString()
    expect(logs).toContain('listening on 8080')

    // Another container on the same user-defined bridge reaches it by name.
    const fetched = await runOnce(docker, base, ['wget', '-q', '-O', '-', `http://conf-web-${id}:8080/`], {
      NetworkMode: `conf-net-${id}`,
    })
    expect(fetched).toEqual({code: 0, output: 'hello-from-volume'})

    await container.remove({force: true})
    await volume.remove()
    await network.remove()
    expect(await docker.listContainers({all: true, filters: {label: ['io.shing.test']}})).toEqual([])
    expect((await docker.listVolumes({filters: {label: ['io.shing.test']}})).Volumes ?? []).toEqual([])
    expect(await docker.listNetworks({filters: {label: ['io.shing.test']}})).toEqual([])
    markReal(ctx, 'docker', engine.version)
  }
})

it('swarm', async (ctx) => {
  const swarm = await timed('swarm start (2 boxes)', () => startSwarm({boxes: 2}))
  ctx.onTestFinished(() => timed('swarm stop', () => swarm.stop()))
  {
    const [box1, box2] = swarm.boxes
    if (box1 === undefined || box2 === undefined) throw new Error('startSwarm returned fewer than 2 boxes')
    const manager = swarm.manager.docker
    const {base} = await timed(`image base into ${box1.name}`, () => ensureImages(box1.docker, ['base']))
    await timed(`image base into ${box2.name}`, () => ensureImages(box2.docker, ['base']))

    const node = manager.getNode(box2.nodeId)
    const current = (await node.inspect()) as {Version: {Index: number}; Spec: {Labels?: Record<string, string>}}
    await node.update({
      _query: {version: current.Version.Index},
      _body: {...current.Spec, Labels: {...current.Spec.Labels, 'io.shing.role.relay': 'true'}},
    })

    // Encrypted where the kernel can (production uses encrypted overlays); this test kernel lacks
    // ESP, so there the proof is for a plain overlay, and the reported version says so.
    const encryption = overlayEncryptionWorks()
    process.stderr.write(`swarm: overlay encryption ${encryption.works ? 'on' : 'OFF'}: ${encryption.why}\n`)
    await manager.createNetwork({
      Name: 'conf-overlay',
      Driver: 'overlay',
      Attachable: true,
      Options: encryption.works ? {encrypted: 'true'} : {},
    })
    const serviceName = 'conf-relay'
    await manager.createService({
      Name: serviceName,
      TaskTemplate: {
        ContainerSpec: {
          Image: base,
          // The template makes the answer name the node that served it.
          Env: ['NODE_ID={{.Node.ID}}'],
          Command: ['node', '-e', server('`relay on ${process.env.NODE_ID}`')],
          // Swarm reports the task running only once this passes, so the server is up by then.
          HealthCheck: {
            Test: ['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/'],
            Interval: seconds(0.2),
            Timeout: seconds(2),
            Retries: 3,
          },
        },
        Placement: {Constraints: ['node.labels.io.shing.role.relay==true']},
        Networks: [{Target: 'conf-overlay'}],
      },
      Mode: {Replicated: {Replicas: 1}},
      EndpointSpec: {Mode: 'dnsrr'}, // no IP_VS in this kernel: no VIP
    })

    type Task = {NodeID?: string; Status?: {State?: string; Err?: string}}
    const task = await timed('service task running', () =>
      waitFor(
        `the ${serviceName} task to run`,
        async () => {
          const tasks = (await manager.listTasks({filters: {service: [serviceName]}})) as Task[]
          const failed = tasks.find((t) => ['failed', 'rejected'].includes(t.Status?.State ?? ''))
          if (failed !== undefined) throw new Error(`task ${failed.Status?.State}: ${failed.Status?.Err}`)
          return tasks.find((t) => t.Status?.State === 'running')
        },
        {timeoutMs: 60_000, intervalMs: 200},
      ),
    )
    expect(task.NodeID).toBe(box2.nodeId)

    // From box 1, over the overlay; retry while the service's DNS record gossips over.
    // (`timeout`, not `wget -T`: Debian busybox-static 1.35's wget segfaults with -T.)
    const fetch = `for i in $(seq 50); do timeout 2 wget -q -O - http://${serviceName}:8080/ && exit 0; sleep 0.1; done; exit 1`
    const fetched = await timed(`fetch from ${box1.name} over the overlay`, () =>
      runOnce(box1.docker, base, ['sh', '-c', fetch], {NetworkMode: 'conf-overlay'}),
    )
    expect(fetched).toEqual({code: 0, output: `relay on ${box2.nodeId}`})

    await manager.getService(serviceName).remove()
    markReal(ctx, 'swarm', `${swarm.boxes.length} boxes, overlay ${encryption.works ? 'encrypted' : 'unencrypted (kernel lacks ESP)'}`)
  }
})

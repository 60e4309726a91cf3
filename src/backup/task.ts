/**
 * A one-shot task of the appliance image in the swarm (a replicated job): the web's image,
 * environment, secrets and network, a folder of this box mounted, run once on this box. Backups and
 * restores run this way; it reads MongoDB, Redis and the object storage where the components do,
 * with nothing published. Its progress lines are read from its logs while it runs.
 */
import {Writable} from 'node:stream'

import {adminReplySchema, backupProgressSchema, BACKUP_DIR_ENV, BACKUP_MOUNT, BACKUP_REQUEST_ENV, imagePaths, type BackupProgress, type BackupRequest} from '../../appliance/contract/index.js'
import type {ContainerTaskSpec, Engine, ServiceInfo, ServiceSpec} from '../engine/engine.js'
import {AbortError, BugError} from '../errors.js'
import {dockerName} from '../stack/names.js'

/** The label every such task carries (not the stack's: `up` must not take it for a service of its own). */
export const TASK_LABEL = 'io.shing.task'

const FINISHED = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove'])

/** The running site's web service: the template of a task (its secrets are already the swarm's). */
export async function webTemplate(engine: Engine): Promise<ServiceInfo> {
  const web = await engine.inspectService(dockerName('web'))
  if (web === undefined) throw new AbortError('The stack is not up on this engine: there is no web service to take the settings from.', ['Start it: shing up'])
  return web
}

/** Refuses while another backup or restore runs: they would write the same places. */
export async function refuseConcurrentTask(engine: Engine): Promise<void> {
  // No swarm (a new box): nothing can run.
  if ((await engine.info()).swarm.state !== 'active') return
  const other = (await engine.listServices({})).find((s) => s.labels[TASK_LABEL] !== undefined)
  if (other !== undefined) {
    throw new AbortError(`Another backup or restore is running (${other.name}).`, [`Wait for it to end, or stop it: docker service rm ${other.name}`])
  }
}

export function taskSpec(template: ServiceInfo, options: {name: string; kind: 'backup' | 'restore'; nodeId: string; hostDir: string; request: BackupRequest}): ServiceSpec {
  const task = template.spec.TaskTemplate as ContainerTaskSpec
  const container = task.ContainerSpec ?? {}
  const taskLabels = {[TASK_LABEL]: options.kind}
  return {
    Name: options.name,
    Labels: taskLabels,
    TaskTemplate: {
      ContainerSpec: {
        ...container,
        Labels: taskLabels,
        Command: ['node', imagePaths.backup],
        Args: [],
        // The target belongs to root on the box (a bind mount keeps its owner).
        User: 'root',
        Env: [
          ...(container.Env ?? []).filter((e) => !e.startsWith('SHING_BACKUP_')),
          `${BACKUP_REQUEST_ENV}=${JSON.stringify(options.request)}`,
          `${BACKUP_DIR_ENV}=${BACKUP_MOUNT}`,
        ],
        Mounts: [{Type: 'bind', Source: options.hostDir, Target: BACKUP_MOUNT}],
        HealthCheck: {Test: ['NONE']},
      },
      RestartPolicy: {Condition: 'none', MaxAttempts: 0},
      Placement: {Constraints: [`node.id==${options.nodeId}`]},
      ...(task.Networks === undefined ? {} : {Networks: task.Networks}),
    },
    // @types/dockerode knows replicated and global services only; the engine (API 1.41) runs jobs.
    Mode: {ReplicatedJob: {MaxConcurrent: 1, TotalCompletions: 1}} as unknown as ServiceSpec['Mode'],
  }
}

/** Collects a log read's stdout as text. */
function textSink(): {stream: Writable; text: () => string} {
  const chunks: Buffer[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk)
      done()
    },
  })
  return {stream, text: () => Buffer.concat(chunks).toString('utf8')}
}

/**
 * Runs the task to its end: each progress line to onProgress as it comes, the final reply's result
 * returned (an AbortError with the task's words when it says it failed). The service is removed
 * afterwards, and on SIGINT/SIGTERM (the task's container is stopped with it).
 */
export async function runTask(
  engine: Engine,
  spec: ServiceSpec,
  options: {timeoutMs: number; onProgress: (p: BackupProgress) => void; onInterrupt: () => AbortError},
): Promise<unknown> {
  const name = spec.Name ?? 'shing_task'
  let interrupted = false
  const stop = (): void => {
    interrupted = true
  }
  // Held until the task is gone: a second Ctrl-C must not leave it running.
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  await engine.createService(spec)
  try {
    let seen = 0
    const readLines = async (): Promise<string[]> => {
      const out = textSink()
      const err = textSink()
      await engine.serviceLogs(name, {follow: false}, {stdout: out.stream, stderr: err.stream}).catch(() => undefined)
      return out.text().split('\n').filter((l) => l.trim() !== '')
    }
    const report = (lines: string[]): void => {
      for (const line of lines.slice(seen)) {
        try {
          const progress = backupProgressSchema.safeParse(JSON.parse(line))
          if (progress.success) options.onProgress(progress.data.progress)
        } catch {
          // Not ours (a library's warning): the reply says what matters.
        }
      }
      seen = Math.max(seen, lines.length)
    }
    const deadline = Date.now() + options.timeoutMs
    let state: string | undefined
    let error: string | undefined
    for (;;) {
      const [taskInfo] = await engine.listTasks({service: name})
      state = taskInfo?.state
      error = taskInfo?.error
      const lines = await readLines()
      report(lines)
      // Its reply printed: it has finished, whatever the swarm says yet (and whatever Ctrl-C says).
      if ((state !== undefined && FINISHED.has(state)) || lines.some((l) => l.startsWith('{"ok"'))) break
      // Interrupted while it runs: the task goes (finally), and what it wrote is not a backup.
      if (interrupted) throw options.onInterrupt()
      if (Date.now() > deadline) throw new AbortError(`The ${name} task did not finish within ${Math.round(options.timeoutMs / 1000)} s (state ${state ?? 'unknown'}); it was stopped.`, ['Give it longer: --timeout <minutes>'])
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    // The last lines may reach the log a moment after the task ended.
    let lines = await readLines()
    for (let i = 0; i < 5 && !lines.some((l) => l.startsWith('{"ok"')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      lines = await readLines()
    }
    report(lines)
    const last = [...lines].reverse().find((l) => l.startsWith('{"ok"'))
    if (last === undefined) {
      throw new AbortError(`The ${name} task ended (${state ?? 'unknown'}${error ? `: ${error}` : ''}) without a result.`, [
        'See the engine: docker service ps --no-trunc ' + name,
      ])
    }
    const reply = adminReplySchema.parse(JSON.parse(last))
    if (!reply.ok) {
      if (reply.error.kind === 'abort') throw new AbortError(reply.error.message, reply.error.actions)
      throw new BugError(`the ${name} task failed: ${reply.error.message}`)
    }
    return reply.result
  } finally {
    await engine.removeService(name)
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

import pino, {type Logger} from 'pino'

export type {Logger} from 'pino'

const redactPaths = ['password', '*.password', 'secret', '*.secret', '*.secretKey', '*.accessKey', 'secrets', '*.secrets']

export interface LoggerOptions {
  component: string
  level: string
  /** Values that must never reach a log line, whatever field or message carries them. */
  secretValues: readonly string[]
  /** Swarm task name, so lines from replicas can be told apart. */
  task?: string
}

/** One JSON line per event on stdout (what `docker logs` collects), secrets blanked. */
export function createLogger({component, level, secretValues, task}: LoggerOptions): Logger {
  // Longest first, so a secret that contains another is blanked whole.
  const values = [...secretValues].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length)
  return pino(
    {
      level,
      base: {component, ...(task === undefined ? {} : {task}), pid: process.pid},
      redact: {paths: redactPaths, censor: '[redacted]'},
      hooks: {
        // Paths cannot catch a password inside an error message or a URL; the finished line can.
        streamWrite: (line) => values.reduce((text, value) => text.split(value).join('[redacted]'), line),
      },
    },
    pino.destination({dest: 1, sync: true}),
  )
}

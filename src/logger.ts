import pino, {type Logger} from 'pino'

/** Paths pino blanks out wherever they appear in a log line. */
const redact = ['*.password', '*.secret', '*.secretKey', '*.accessKey', 'secrets', '*.secrets', 'password']

let root: Logger | undefined

/** Logs go to stderr (results go to stdout). Level from SHING_LOG_LEVEL, default warn. */
export function logger(component: string): Logger {
  root ??= pino(
    {level: process.env.SHING_LOG_LEVEL ?? 'warn', redact: {paths: redact, censor: '[redacted]'}},
    pino.destination(2),
  )
  return root.child({component})
}

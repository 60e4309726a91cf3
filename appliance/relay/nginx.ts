/**
 * The relay's byte server: Debian's nginx, started and stopped by the relay process, in front of
 * it. nginx sends the media objects (init, segments, parts) from the relay's files with sendfile
 * and passes everything else (playlists, blocking reloads, a media object not stored yet,
 * /healthz, /metrics) to the relay process over a Unix socket. Its access log is how the relay
 * learns its viewers and egress.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {once} from 'node:events'
import {accessSync, constants, readFileSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {Logger} from '../platform/logger.js'

export interface NginxSettings {
  /** The relay's cache folder: nginx.conf, its pid, temp folders and access.log live here. */
  dir: string
  /** Where the media files are (MediaFiles.servedRoot). */
  filesRoot: string
  /** The relay process's socket: nginx's only upstream. */
  upstreamSocket: string
  host: string
  port: number
  /** Longest a blocking reload may be held upstream before nginx gives up on it. */
  upstreamTimeoutS: number
  /** A viewer that takes nothing for this long is disconnected (nginx's send_timeout). */
  sendTimeoutS: number
}

/** The media objects nginx serves from files; the same names hls/live-paths.ts accepts. */
const RENDITION_PATH = '^/live/[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9][a-z0-9_-]{0,31}/'
const MEDIA_LOCATION = `${RENDITION_PATH}(seg[0-9]{1,10}|part[0-9]{1,10}\\.[0-9]{1,4})\\.m4s$`
const INIT_LOCATION = `${RENDITION_PATH}init\\.mp4$`

export const ACCESS_LOG = 'access.log'

/**
 * One access log line per request, tab-separated (nginx escapes tabs and control characters in
 * values as \xXX): time, status, body bytes, method, path, the viewer's address, user agent,
 * and where the body came from ('-': nginx's files; else the relay process's X-Cache).
 */
const LOG_FORMAT = '$msec\\t$status\\t$body_bytes_sent\\t$request_method\\t$uri\\t$shing_client\\t$http_user_agent\\t$upstream_http_x_cache'

/** The open-file limit this process may raise itself to (/proc/self/limits, hard column). */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
  const hard = line?.trim().split(/\s+/)[4]
  const value = hard === 'unlimited' ? 1_048_576 : Number(hard)
  return Number.isFinite(value) && value > 0 ? value : 1024
}

export function nginxConfig(settings: NginxSettings, openFiles = openFileLimit()): string {
  const {dir} = settings
  // A proxied request holds two descriptors (viewer, upstream); a file send holds two (viewer, file).
  const connections = Math.max(512, Math.min(65_536, Math.floor(openFiles / 2) - 64))
  const temp = (name: string): string => path.join(dir, 'nginx', name)
  // Started as root (a test on a dev box), nginx would hand its workers to `nobody`, who may not
  // reach the socket or the files: they stay with the user that runs the relay.
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  return `# Written by the Shing relay at start (appliance/relay/nginx.ts); not meant to be edited.
${user}worker_processes 1;
worker_rlimit_nofile ${openFiles};
pid ${path.join(dir, 'nginx.pid')};
error_log stderr warn;

events {
    worker_connections ${connections};
}

http {
    types {
        video/mp4 mp4 m4s;
        application/vnd.apple.mpegurl m3u8;
    }
    default_type application/octet-stream;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    # Players keep one connection and ask several times a second for hours.
    keepalive_timeout 65s;
    keepalive_requests 100000;
    send_timeout ${settings.sendTimeoutS}s;
    client_max_body_size 0;
    client_body_temp_path ${temp('body')};
    proxy_temp_path ${temp('proxy')};
    fastcgi_temp_path ${temp('fastcgi')};
    uwsgi_temp_path ${temp('uwsgi')};
    scgi_temp_path ${temp('scgi')};

    # The viewer: the last X-Forwarded-For entry (what the edge appended) or the peer.
    map $http_x_forwarded_for $shing_client {
        "~(?<last>[^,\\s]+)\\s*$" $last;
        default $remote_addr;
    }
    log_format shing '${LOG_FORMAT}';
    access_log ${path.join(dir, ACCESS_LOG)} shing buffer=64k flush=500ms;

    upstream shing_relay {
        server unix:${settings.upstreamSocket};
        # Every viewer's blocking reload waits upstream at once: without an idle connection for
        # each, every part would open (and close) hundreds of connections to the relay process.
        keepalive ${connections};
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }

    server {
        listen ${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${settings.port} backlog=4096;

        location ~ "${MEDIA_LOCATION}" {
            root ${settings.filesRoot};
            try_files $uri @relay;
            etag off;
            # Segment and part names never repeat within a broadcast, nor across (clock-based numbers).
            add_header Cache-Control "public, max-age=31536000, immutable";
            add_header Access-Control-Allow-Origin "*";
            add_header X-Cache "hit";
        }

        location ~ "${INIT_LOCATION}" {
            root ${settings.filesRoot};
            try_files $uri @relay;
            # init.mp4 keeps its name across broadcasts: players revalidate it (ETag).
            add_header Cache-Control "no-cache";
            add_header Access-Control-Allow-Origin "*";
            add_header X-Cache "hit";
        }

        location / {
            proxy_pass http://shing_relay;
        }

        location @relay {
            proxy_pass http://shing_relay;
        }

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $shing_client;
        proxy_read_timeout ${settings.upstreamTimeoutS}s;
        # A slow viewer of a proxied answer holds at most these buffers here; the rest waits in
        # the relay process, which stops writing until nginx reads (never a temp file).
        proxy_buffers 8 64k;
        proxy_busy_buffers_size 128k;
        proxy_max_temp_file_size 0;
    }
}
`
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The nginx binary: SHING_NGINX, else the first nginx on PATH or in /usr/sbin. */
export function findNginx(configured: string | undefined, searchPath = process.env.PATH ?? ''): string {
  const candidates = configured === undefined ? [...searchPath.split(':').filter(Boolean), '/usr/sbin'].map((dir) => path.join(dir, 'nginx')) : [configured]
  const found = candidates.find(executable)
  if (found !== undefined) return found
  throw new Error(
    configured === undefined
      ? "the relay sends viewers' bytes with nginx, and no nginx is installed here: install Debian's nginx (apt-get install nginx) or set SHING_NGINX to its path"
      : `SHING_NGINX is ${configured}, which is not an executable file: point it at nginx`,
  )
}

export interface RunningNginx {
  readonly pid: number
  /** Resolves when nginx exited, with its code or signal. */
  readonly exited: Promise<string>
  /** Makes nginx reopen its access log (after the relay moved the old one away). */
  reopenLogs(): void
  /** Graceful stop (SIGQUIT: open requests finish), then SIGKILL after graceMs. */
  stop(graceMs: number): Promise<void>
}

export async function startNginx(binary: string, settings: NginxSettings, log: Logger): Promise<RunningNginx> {
  for (const name of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(path.join(settings.dir, 'nginx', name), {recursive: true})
  const configFile = path.join(settings.dir, 'nginx.conf')
  await writeFile(configFile, nginxConfig(settings))
  const args = ['-e', 'stderr', '-p', settings.dir, '-c', configFile, '-g', 'daemon off;']
  // nginx must not outlive the relay, even one killed with SIGKILL: setpriv (util-linux) has the
  // kernel send nginx's master SIGTERM when the relay dies, and the master stops its worker.
  const setpriv = executable('/usr/bin/setpriv')
  const child: ChildProcess = setpriv
    ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'TERM', '--', binary, ...args], {stdio: ['ignore', 'ignore', 'pipe']})
    : spawn(binary, args, {stdio: ['ignore', 'ignore', 'pipe']})
  const pid = child.pid
  if (pid === undefined) {
    const [error] = (await once(child, 'error')) as [Error]
    throw new Error(`cannot start nginx (${binary}): ${error.message}`)
  }
  let lastError = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue
      lastError = line
      log.warn(line)
    }
  })
  const exited = once(child, 'exit').then(([code, signal]) => (signal === null ? `exit code ${String(code)}` : `signal ${String(signal)}`))
  // The relay process may die first (SIGKILL aside): nginx must not outlive it.
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  void exited.then(() => process.removeListener('exit', killOnExit))
  // nginx checks its config and binds before it forks: a quick exit is a failed start.
  const early = await Promise.race([exited, new Promise<undefined>((resolve) => setTimeout(resolve, 300, undefined))])
  if (early !== undefined) throw new Error(`nginx did not start (${early}): ${lastError || 'no message'}`)
  return {
    pid,
    exited,
    reopenLogs: () => {
      child.kill('SIGUSR1')
    },
    stop: async (graceMs) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGQUIT')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

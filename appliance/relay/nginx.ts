/**
 * The relay's byte server: Debian's nginx, started and stopped by the relay process, in front of
 * it. nginx sends the media objects (init, segments, parts) from the relay's files with sendfile
 * and passes everything else (playlists, blocking reloads, a media object not stored yet,
 * /healthz, /metrics) to the relay process over a Unix socket. Its access log is how the relay
 * learns its viewers and egress.
 */
import {execFile} from 'node:child_process'
import {accessSync, constants, readFileSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {executable, startBoundChild} from '../platform/bound-child.js'
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
  /**
   * nchan (Debian's libnginx-mod-nchan), when installed: nginx holds LL-HLS blocking reloads
   * itself and the relay publishes their answers on this socket (relay/held-reloads.ts).
   */
  nchan?: {module: string; publisherSocket: string}
  /**
   * A TLS port of the relay's own, for viewers sent to it directly rather than through the edge
   * (the same answers; HTTP/2; the certificate's files are read by nginx at start and reload).
   */
  tls?: {port: number; certFile: string; keyFile: string}
}

/** Where Debian's nginx keeps nchan. */
export const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so'

/** nchan's module when it is installed next to nginx (else the relay process holds blocking reloads). */
export function findNchan(module = NCHAN_MODULE): string | undefined {
  try {
    accessSync(module, constants.R_OK)
    return module
  } catch {
    return undefined
  }
}

/** The media objects nginx serves from files; the same names hls/live-paths.ts accepts. */
const RENDITION_PATH = '^/live/[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9][a-z0-9_-]{0,31}/'
const MEDIA_LOCATION = `${RENDITION_PATH}(seg[0-9]{1,10}|part[0-9]{1,10}\\.[0-9]{1,4})\\.m4s$`
const INIT_LOCATION = `${RENDITION_PATH}init\\.mp4$`
const PLAYLIST_LOCATION = '^/live/(?<shing_channel>[a-z0-9][a-z0-9_-]{0,62})/(?<shing_rendition>[a-z0-9][a-z0-9_-]{0,31})/index\\.m3u8$'

/**
 * The media playlist's location with nchan: a blocking reload as hls.js sends it
 * (`?_HLS_msn=N&_HLS_part=P`, nothing else) whose marker file the relay wrote is held by nginx
 * until the relay publishes its answer; anything else goes to the relay process.
 */
function heldPlaylistLocations(settings: NginxSettings): string {
  if (settings.nchan === undefined) return ''
  return `
        location ~ "${PLAYLIST_LOCATION}" {
            root ${settings.filesRoot};
            set $shing_held "";
            if ($args ~ "^_HLS_msn=(?<shing_msn>[0-9]{1,10})(?:&_HLS_part=(?<shing_part>[0-9]{1,4}))?$") {
                set $shing_held "directives";
            }
            if (-f $document_root/live/$shing_channel/$shing_rendition/.held/$shing_msn-$shing_part) {
                set $shing_held "\${shing_held}+marker";
            }
            error_page 418 = @held;
            if ($shing_held = "directives+marker") {
                return 418;
            }
            proxy_pass http://shing_relay;
        }

        location @held {
            nchan_subscriber longpoll;
            nchan_channel_id "$shing_channel/$shing_rendition/$shing_msn-$shing_part";
            # The ingest gives up on a blocking reload after 3 target durations; so does this.
            nchan_subscriber_timeout ${settings.upstreamTimeoutS}s;
            # Never stored: a browser's If-Modified-Since would make nchan wait for a newer message.
            add_header Cache-Control "no-store" always;
            # nchan answers CORS itself (it echoes the Origin): a second Access-Control-Allow-Origin
            # would make browsers refuse every held reload of a player on another origin.
            add_header X-Cache "held" always;
        }`
}

/** host:port as nginx's listen takes it (an IPv6 address in brackets). */
const listenAddress = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`

/** The server viewers reach directly over TLS: the same locations as the plain one. */
function tlsServer(settings: NginxSettings, body: string): string {
  if (settings.tls === undefined) return ''
  const {port, certFile, keyFile} = settings.tls
  return `
    server {
        listen ${listenAddress(settings.host, port)} ssl http2 backlog=4096;
        ssl_certificate ${certFile};
        ssl_certificate_key ${keyFile};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:shing_tls:10m;
        ssl_session_timeout 1h;
        # The kernel encrypts what sendfile sends where it can (Linux kTLS, OpenSSL 3); else nginx does.
        ssl_conf_command Options KTLS;
${body}    }
`
}

/** The relay process publishes held reloads' answers here (a socket only it can reach). */
function publisherServer(settings: NginxSettings): string {
  if (settings.nchan === undefined) return ''
  return `
    server {
        listen unix:${settings.nchan.publisherSocket};
        access_log off;
        location = /publish {
            nchan_publisher;
            nchan_channel_id $arg_id;
            # One answer per request, kept while a late viewer may still ask for it.
            nchan_message_buffer_length 1;
            nchan_message_timeout 15s;
        }
    }
`
}

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
  const nchan = settings.nchan === undefined ? '' : `load_module ${settings.nchan.module};\n`
  // What both servers answer: the plain one (the edge, other relays' health checks) and the TLS one (viewers sent directly).
  const serverBody = `
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
${heldPlaylistLocations(settings)}
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
`
  return `# Written by the Shing relay at start (appliance/relay/nginx.ts); not meant to be edited.
${nchan}${user}worker_processes 1;
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

    # The viewer: through the edge, the last X-Forwarded-For entry (what the edge appended), else
    # the peer; on the TLS port viewers come directly, and what they send in the header is not trusted.
    map $http_x_forwarded_for $shing_forwarded {
        "~(?<last>[^,\\s]+)\\s*$" $last;
        default $remote_addr;
    }
    map $server_port $shing_client {
${settings.tls === undefined ? '' : `        ${settings.tls.port} $remote_addr;\n`}        default $shing_forwarded;
    }
    log_format shing '${LOG_FORMAT}';
    access_log ${path.join(dir, ACCESS_LOG)} shing buffer=64k flush=500ms;

${settings.nchan === undefined ? '' : '    # Held blocking reloads\' answers (a few KiB each, kept 15 s).\n    nchan_shared_memory_size 64m;\n\n'}    upstream shing_relay {
        server unix:${settings.upstreamSocket};
        # Every viewer's blocking reload waits upstream at once: without an idle connection for
        # each, every part would open (and close) hundreds of connections to the relay process.
        keepalive ${connections};
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }

    server {
        listen ${listenAddress(settings.host, settings.port)} backlog=4096;
${serverBody}    }
${tlsServer(settings, serverBody)}${publisherServer(settings)}}
`
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
  /**
   * Rewrites the configuration and has nginx load it (SIGHUP: new workers take new connections,
   * the old ones finish theirs). A configuration nginx refuses leaves the running one in place
   * (nginx logs why).
   */
  reconfigure(settings: NginxSettings): Promise<void>
  /** Graceful stop (SIGQUIT: open requests finish), then SIGKILL after graceMs. */
  stop(graceMs: number): Promise<void>
}

/** `nginx -t` on this configuration: undefined when nginx accepts it, else nginx's last words. */
export async function testNginxConfig(binary: string, settings: NginxSettings): Promise<string | undefined> {
  // Before the first start too (a certificate already there): the config names these folders.
  await makeTempFolders(settings)
  const file = path.join(settings.dir, 'nginx.test.conf')
  await writeFile(file, nginxConfig(settings))
  return new Promise((resolve) => {
    execFile(binary, ['-e', 'stderr', '-t', '-q', '-p', settings.dir, '-c', file], {timeout: 30_000}, (error, _stdout, stderr) => {
      // The reason is the [emerg] line; the last one only says the test failed.
      const lines = stderr.trim().split('\n')
      resolve(error === null ? undefined : (lines.find((l) => l.includes('[emerg]')) ?? lines.at(-1) ?? error.message))
    })
  })
}

async function makeTempFolders(settings: NginxSettings): Promise<void> {
  for (const name of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(path.join(settings.dir, 'nginx', name), {recursive: true})
}

export async function startNginx(binary: string, settings: NginxSettings, log: Logger): Promise<RunningNginx> {
  await makeTempFolders(settings)
  const configFile = path.join(settings.dir, 'nginx.conf')
  await writeFile(configFile, nginxConfig(settings))
  // nginx must not outlive the relay, even one killed with SIGKILL; its master stops its worker.
  const nginx = await startBoundChild({name: 'nginx', binary, args: ['-e', 'stderr', '-p', settings.dir, '-c', configFile, '-g', 'daemon off;'], onLine: (line) => log.warn(line)})
  return {
    pid: nginx.pid,
    exited: nginx.exited,
    reopenLogs: () => {
      nginx.child.kill('SIGUSR1')
    },
    reconfigure: async (next) => {
      await writeFile(configFile, nginxConfig(next))
      nginx.child.kill('SIGHUP')
    },
    stop: (graceMs) => nginx.stop('SIGQUIT', graceMs),
  }
}

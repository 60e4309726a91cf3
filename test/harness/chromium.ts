import {readdir, readFile, stat, writeFile} from 'node:fs/promises'
import {createServer} from 'node:http'
import {once} from 'node:events'
import path from 'node:path'
import {chromium, type Browser, type BrowserContext, type Page} from 'playwright-core'

import {HarnessError, freePort, tempDir, waitFor} from './process.js'
import {requireTool} from './tools.js'

/** The flags TESTING.md lists; playwright adds its own defaults (and --headless, --no-sandbox) too. */
const baseFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const fakeMediaFlags = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']

export interface LaunchOptions {
  /** A fake camera and microphone, granted without a prompt. */
  fakeMedia?: boolean
  /** Run the browser inside this network namespace (a test "box"), to reach its addresses. */
  netns?: string
  /** Accept any server certificate (a site on Caddy's own CA, as one on an IP address has). */
  ignoreHttpsErrors?: boolean
}

export interface RunningChromium {
  readonly browser: Browser
  readonly context: BrowserContext
  /** What the browser reports, e.g. "156.0.8078.79". */
  readonly version: string
  newPage(): Promise<Page>
  /** PIDs of this browser's live processes. */
  processes(): Promise<number[]>
  /** Closes the browser and checks that none of its processes remain. */
  close(): Promise<void>
}

/**
 * Dismisses and records every dialog the page opens: a test that shows hostile input checks this
 * stays empty (a value that ran as script would have opened one).
 */
export function recordDialogs(page: Page, into: string[]): Page {
  page.on('dialog', (dialog) => {
    into.push(dialog.message())
    void dialog.dismiss()
  })
  return page
}

// Every process of one launch inherits this variable up to the zygote (which clears its
// environment); the crash handlers carry it too, though they daemonize out of the browser's
// process group. Marked processes and their process groups are this launch and no one else's.
const markerVariable = 'SHING_TEST_CHROMIUM'

interface ProcessInfo {
  pid: number
  pgid: number
  marked: boolean
}

/** Live processes (zombies are already dead and do not count). */
async function liveProcesses(marker: string): Promise<ProcessInfo[]> {
  const needle = `\0${markerVariable}=${marker}\0`
  const found: ProcessInfo[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const statLine = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    // After "(comm)": state ppid pgrp …
    const [state, , pgrp] = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')
    if (state === undefined || pgrp === undefined || state === 'Z' || state === 'X') continue
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '')
    found.push({pid: Number(entry), pgid: Number(pgrp), marked: `\0${environ}`.includes(needle)})
  }
  return found
}

/** The processes of one launch: marked ones and everything in their process groups. */
async function processesOf(marker: string, groups: Set<number>): Promise<number[]> {
  const all = await liveProcesses(marker)
  const ownGroup = all.find((p) => p.pid === process.pid)?.pgid
  for (const p of all) if (p.marked && p.pgid !== ownGroup) groups.add(p.pgid)
  return all.filter((p) => p.pid !== process.pid && (p.marked || groups.has(p.pgid))).map((p) => p.pid)
}

export async function launchChromium(options: LaunchOptions = {}): Promise<RunningChromium> {
  const chromiumPath = requireTool('chromium')
  // A fresh profile per launch; a persistent context is how playwright takes --user-data-dir.
  const profile = await tempDir('chromium-profile')
  let executablePath = chromiumPath
  if (options.netns !== undefined) {
    // playwright talks to the browser over pipes, so only the browser needs to be in the namespace.
    executablePath = path.join(profile.dir, 'chromium-in-netns')
    await writeFile(executablePath, `#!/bin/sh\nexec ip netns exec ${options.netns} ${chromiumPath} "$@"\n`, {mode: 0o755})
  }
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(profile.dir, {
      executablePath,
      headless: true,
      args: [...baseFlags, ...(options.fakeMedia === true ? fakeMediaFlags : [])],
      env: {...process.env, [markerVariable]: profile.dir},
      timeout: 60_000,
      ...(options.ignoreHttpsErrors === true ? {ignoreHTTPSErrors: true} : {}),
    })
  } catch (error) {
    await profile.remove()
    throw new HarnessError(`chromium (${executablePath}) failed to launch: ${(error as Error).message}`)
  }
  const browser = context.browser()
  if (browser === null) {
    await context.close()
    await profile.remove()
    throw new HarnessError('chromium: playwright returned a persistent context without a browser')
  }

  const groups = new Set<number>()
  const processes = (): Promise<number[]> => processesOf(profile.dir, groups)
  await processes()
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await context.close()
    // playwright ends the browser's process group; check, because a leftover holds CPU and the profile.
    const leftover = await waitFor('chromium processes to end', async () => (await processes()).length === 0, {
      timeoutMs: 10_000,
    }).then(
      () => undefined,
      async () => {
        const pids = await processes()
        for (const pid of pids) process.kill(pid, 'SIGKILL')
        return new HarnessError(`chromium left processes ${pids.join(',')} running after close (killed now)`)
      },
    )
    await profile.remove()
    if (leftover !== undefined) throw leftover
  }

  return {
    browser,
    context,
    version: browser.version(),
    processes,
    newPage: () => context.newPage(),
    close,
  }
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
}

export interface StaticServer {
  /** e.g. "http://127.0.0.1:41234/" — a secure context, so mediaDevices exists. */
  readonly url: string
  close(): Promise<void>
}

/** Serves the files of one directory on 127.0.0.1 (http://127.0.0.1 counts as a secure context). */
export async function serveDir(dir: string): Promise<StaticServer> {
  const root = path.resolve(dir)
  const server = createServer((req, res) => {
    void (async () => {
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname)
      const file = path.join(root, pathname.endsWith('/') ? `${pathname}index.html` : pathname)
      // Stay inside the served directory.
      if (file !== root && !file.startsWith(root + path.sep)) {
        res.writeHead(403).end()
        return
      }
      const info = await stat(file).catch(() => undefined)
      if (info === undefined || !info.isFile()) {
        res.writeHead(404, {'content-type': 'text/plain'}).end(`not found: ${pathname}`)
        return
      }
      const body = await readFile(file)
      res.writeHead(200, {
        'content-type': contentTypes[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      })
      res.end(body)
    })().catch((error: unknown) => {
      res.writeHead(500, {'content-type': 'text/plain'}).end(String(error))
    })
  })
  const port = await freePort()
  server.listen(port, '127.0.0.1')
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw new HarnessError(`static server on 127.0.0.1:${port}: ${(error as Error).message}`)
    }),
  ])
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
    },
  }
}

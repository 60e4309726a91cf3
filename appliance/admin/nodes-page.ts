/**
 * /admin/nodes (admins, read-only): the node registry as the web reads it (every ingest, relay
 * and SFU that heartbeats, with its load and how long ago it last did) and the health of what this
 * web instance depends on (the same checks as its /healthz).
 */
import type {FastifyInstance} from 'fastify'
import type {Redis} from 'ioredis'

import {registeredRoles, type RegisteredRole, type RegistryRecord} from '../contract/index.js'
import {runChecks, type HealthCheck, type HealthReport} from '../platform/http-server.js'
import {listNodes} from '../registry/nodes.js'
import {escapeHtml, page, sendPage, type PageContext, type PageContextOf} from '../web/html.js'
import {adminNav} from './area-pages.js'
import {staffOnly} from './guard.js'

const roleTitles: {[R in RegisteredRole]: string} = {ingest: 'Ingests', relay: 'Relays', sfu: 'SFUs'}

const percent = (share: number): string => `${Math.round(share * 100)} %`
const mbits = (bitsPerSecond: number): string => `${(bitsPerSecond / 1e6).toFixed(1)} Mbit/s`

function nodeTable(role: RegisteredRole, nodes: readonly RegistryRecord[] | undefined, now: number): string {
  const noun = role === 'sfu' ? 'SFU' : role
  // An SFU's load is calls: rooms, people, the streams they send and those it sends them.
  const sfu = role === 'sfu'
  const counts = sfu ? ['Rooms', 'Participants', 'Streams in', 'Streams out'] : ['Streams', 'Viewers']
  if (nodes === undefined) return '<p class="notice error">Unknown: the registry (Redis) did not answer.</p>'
  if (nodes.length === 0) return `<p>No ${noun} is registered.</p>`
  const rows = nodes
    .map((n) => {
      const slots = n.load.slotsUsed === undefined && n.load.slotsFree === undefined ? '–' : `${n.load.slotsUsed ?? 0} used, ${n.load.slotsFree ?? 0} free`
      const ports = Object.entries(n.ports)
        .map(([name, port]) => `${name} ${port}`)
        .join(', ')
      const age = Math.max(0, Math.round((now - Date.parse(n.heartbeatAt)) / 1000))
      return `<tr><td><code>${escapeHtml(n.id)}</code></td><td data-label="Host">${escapeHtml(n.host)}${n.publicHost === undefined ? '' : ` <span class="muted">(${escapeHtml(n.publicHost)})</span>`}<br><span class="muted">${escapeHtml(ports)}</span></td>${(sfu ? [n.load.rooms ?? 0, n.load.participants ?? 0, n.load.streams, n.load.viewers] : [n.load.streams, n.load.viewers]).map((count, i) => `<td data-label="${counts[i]}">${count}</td>`).join('')}<td data-label="Slots">${escapeHtml(slots)}</td><td data-label="Egress" class="nowrap">${mbits(n.load.egressBitsPerSecond)}</td><td data-label="CPU">${percent(n.load.cpu)}</td><td data-label="Heartbeat" class="nowrap">${age} s ago</td></tr>`
    })
    .join('')
  return `<div class="table-wrap"><table class="admin stacked"><thead><tr><th scope="col">Id</th><th scope="col">Host</th>${counts.map((label) => `<th scope="col">${label}</th>`).join('')}<th scope="col">Slots</th><th scope="col">Egress</th><th scope="col">CPU</th><th scope="col">Heartbeat</th></tr></thead><tbody>${rows}</tbody></table></div>`
}

function healthList(report: HealthReport): string {
  const items = Object.entries(report.checks)
    .map(([name, status]) => {
      const error = report.errors?.[name]
      return `<li><strong>${escapeHtml(name)}</strong> <span class="${status === 'ok' ? 'state-ok' : 'state-bad'}">${status}</span>${error === undefined ? '' : ` <span class="muted">${escapeHtml(error)}</span>`}</li>`
    })
    .join('')
  return `<ul class="health">${items}</ul>`
}

export function nodesPage(context: PageContext, view: {webId: string; health: HealthReport; nodes: Readonly<Record<RegisteredRole, readonly RegistryRecord[] | undefined>>; now: number}): string {
  return page(context, {
    title: 'Nodes and health',
    width: 'wide',
    body: `<h1>Nodes and health</h1>
${adminNav(context)}
<h2>Health, as <code>${escapeHtml(view.webId)}</code> sees it</h2>
${healthList(view.health)}
${registeredRoles.map((role) => `<h2>${roleTitles[role]}</h2>\n${nodeTable(role, view.nodes[role], view.now)}`).join('\n')}
<p class="hint">A node is listed while it heartbeats (every few seconds); one that stops drops out within seconds. <code>shing status</code> shows the containers.</p>`,
  })
}

export async function nodesArea(app: FastifyInstance, options: {redis: Redis; checks: readonly HealthCheck[]; webId: string; pageContext: PageContextOf}): Promise<void> {
  const {redis, pageContext} = options
  const adminOf = staffOnly(pageContext, 'admin')
  app.get('/admin/nodes', async (request, reply) => {
    if (adminOf(request, reply) === undefined) return reply
    // Redis away: its check says so, and each list says it is unknown.
    const [health, ...lists] = await Promise.all([runChecks(options.checks), ...registeredRoles.map((role) => listNodes(redis, role).catch(() => undefined))])
    const nodes = Object.fromEntries(registeredRoles.map((role, i) => [role, lists[i]])) as Record<RegisteredRole, RegistryRecord[] | undefined>
    return sendPage(reply, 200, nodesPage(pageContext(request, reply), {webId: options.webId, health, nodes, now: Date.now()}))
  })
}

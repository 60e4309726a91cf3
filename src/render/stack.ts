import type {ProgressEvent} from '../up/apply.js'
import type {DownResult} from '../down/down.js'
import type {StatusResult} from '../status/status.js'
import type {UpResult} from '../up/up.js'

export function renderProgress(e: ProgressEvent): string {
  switch (e.kind) {
    case 'action':
      return `→ ${e.description}`
    case 'waiting':
      return `  ${e.service}: ${e.running}/${e.desired} healthy`
    case 'healthy':
      return `✓ ${e.service} healthy (${e.running}) in ${e.seconds.toFixed(1)}s`
    case 'image':
      return `  ${e.image}: ${e.text}`
  }
}

export function renderUp(r: UpResult): string {
  const images = r.images.filter((i) => i.action !== 'present')
  if (r.dryRun) {
    if (r.actions.length === 0 && images.length === 0) return 'Nothing to do: the stack matches shing.yaml.'
    return ['Would:', ...images.map((i) => `  ${i.action} image ${i.ref}`), ...r.actions.map((a) => `  ${a.description}`)].join('\n')
  }
  const lines = [
    r.actions.length === 0 && images.length === 0
      ? 'Nothing changed: the stack already matches shing.yaml.'
      : `Done in ${r.seconds.toFixed(1)}s (${[images.length > 0 ? `${images.map((i) => `${i.action} ${i.ref}`).join(', ')}` : '', `${r.actions.length} actions`].filter(Boolean).join('; ')}).`,
    '',
    ...urlLines(r.urls),
    '',
    'Next: create your admin account (its password is printed once), then a stream key for a channel:',
    `  ${r.next[0]}`,
    `  ${r.next[1]}`,
  ]
  return lines.join('\n')
}

function urlLines(urls: {web: string; rtmp: string; video?: string}): string[] {
  return [`Web        ${urls.web}`, `OBS server ${urls.rtmp}`, ...(urls.video === undefined ? [] : [`Live video ${urls.video} (players fetch it from the relays here)`])]
}

export function renderStatus(r: StatusResult): string {
  const lines = [`Stack ${r.stack}: ${r.services.length} services${r.swarm ? `, swarm ${r.swarm}` : ''}`]
  for (const s of r.services) {
    const tasks = s.tasks.map((t) => `${t.node}:${t.state}${t.health ? `/${t.health}` : ''}`).join(' ')
    lines.push(`  ${s.name.padEnd(7)} ${String(s.running).padStart(2)}/${s.desired} ${s.healthy ? 'healthy  ' : 'UNHEALTHY'} ${s.image}  ${tasks}`)
  }
  if (r.registry) {
    lines.push('', 'Registry (live processes and their load):')
    if (r.registry.length === 0) lines.push('  none')
    for (const n of r.registry) {
      const load = n.role === 'sfu' ? `rooms ${n.load.rooms ?? 0}  participants ${n.load.participants ?? 0}  streams in ${n.load.streams} out ${n.load.viewers}` : `streams ${n.load.streams}  viewers ${n.load.viewers}`
      lines.push(`  ${n.role.padEnd(6)} ${n.id}  ${n.host}  cpu ${(n.load.cpu * 100).toFixed(0)}%  ${load}`)
    }
  } else if (r.registryError) lines.push('', `Registry: unavailable (${r.registryError})`)
  lines.push('', ...urlLines(r.urls))
  return lines.join('\n')
}

export function renderDown(r: DownResult): string {
  const lines = [`Removed ${r.removed.services.length} services, ${r.removed.secrets.length} secrets, ${r.removed.configs.length} configs${r.removed.network ? ', the network' : ''}.`]
  lines.push(r.removed.volumes.length > 0 ? `Removed volumes: ${r.removed.volumes.join(', ')}` : `Kept volumes (your data): ${r.keptVolumes.join(', ') || 'none'}`)
  return lines.join('\n')
}

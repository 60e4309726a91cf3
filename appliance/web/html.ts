/** HTML the web serves besides each domain's own pages: escaping, the front page, the 404 page. */
import {registeredRoles, type NodesView} from '../contract/index.js'

/** Text into HTML (element content or a quoted attribute). */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] ?? c)

/** The page for a name that is no channel (answered with 404). */
export function notFoundPage(options: {siteName: string; what: string}): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Not found · ${escapeHtml(options.siteName)}</title></head>
<body><h1>Not found</h1><p>${escapeHtml(options.what)}</p></body>
</html>
`
}

export function homePage(siteName: string, nodes: NodesView): string {
  const live = nodes.ingest.reduce((sum, n) => sum + n.load.streams, 0)
  const counts = registeredRoles.map((role) => `<li>${role}: ${nodes[role].length}</li>`).join('')
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(siteName)}</title></head>
<body>
<h1>${escapeHtml(siteName)}</h1>
<p>Shing is running.</p>
<h2>Live channels</h2>
<p>${live === 0 ? 'None yet.' : `${live} live now.`}</p>
<h2>Nodes</h2>
<ul>${counts}</ul>
</body>
</html>
`
}

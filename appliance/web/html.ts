/** HTML the web serves besides each domain's own pages: escaping, the front page, the 404 page. */

/** Text into HTML (element content or a quoted attribute). */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] ?? c)

const STYLE = `<style>
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: #111; color: #eee; }
  main { max-width: 40rem; margin: 0 auto; padding: 2rem 1rem; }
  h1 { font-size: 1.5rem; }
  a { color: #8cf; }
  a:focus-visible { outline: 2px solid #8cf; outline-offset: 2px; }
  ul { padding-left: 1.2rem; }
</style>`

function page(siteName: string, title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} · ${escapeHtml(siteName)}</title>
${STYLE}
</head>
<body><main>
${body}
</main></body>
</html>
`
}

/** The page for what is not there (answered with 404): it never echoes the path it was asked for. */
export function notFoundPage(options: {siteName: string; what: string; title?: string}): string {
  const title = options.title ?? 'Not found'
  return page(options.siteName, title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(options.what)}</p>\n<p><a href="/">Go to the front page</a></p>`)
}

/** The front page: who is live now. (How the platform's boxes are doing is the admin's: shing status.) */
export function homePage(siteName: string, live: readonly {channel: string; since: string}[]): string {
  const list =
    live.length === 0
      ? '<p>Nobody is live right now.</p>'
      : `<ul>${live.map((s) => `<li><a href="/c/${encodeURIComponent(s.channel)}">${escapeHtml(s.channel)}</a></li>`).join('')}</ul>`
  return page(siteName, 'Live now', `<h1>${escapeHtml(siteName)}</h1>\n<h2>Live now</h2>\n${list}`)
}

/**
 * A browser-like HTTP client for tests of pages and forms: it keeps cookies, does not follow
 * redirects (a test looks at them), and reads the CSRF token a page's form carries.
 */
export interface Answer {
  status: number
  headers: Headers
  text: string
  /** Where a redirect points (path and query), if it is one. */
  location?: string
}

export class FormClient {
  readonly cookies = new Map<string, string>()

  constructor(
    private readonly base: string,
    /** Sent as X-Forwarded-For: the client address the web sees behind its proxy. */
    private readonly address?: string,
  ) {}

  cookie(name: string): string | undefined {
    return this.cookies.get(name)
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const cookie = [...this.cookies.entries()].map(([k, v]) => `${k}=${v}`).join('; ')
    return {...(cookie ? {cookie} : {}), ...(this.address ? {'x-forwarded-for': this.address} : {}), ...extra}
  }

  private async answer(response: Response): Promise<Answer> {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';')
      const [name, ...rest] = pair!.split('=')
      const value = rest.join('=')
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || value === ''
      if (expired) this.cookies.delete(name!.trim())
      else this.cookies.set(name!.trim(), value)
    }
    const location = response.headers.get('location') ?? undefined
    return {status: response.status, headers: response.headers, text: await response.text(), ...(location === undefined ? {} : {location})}
  }

  async get(path: string, base = this.base): Promise<Answer> {
    return this.answer(await fetch(`${base}${path}`, {headers: this.headers(), redirect: 'manual', signal: AbortSignal.timeout(15_000)}))
  }

  async post(path: string, fields: Record<string, string>, base = this.base): Promise<Answer> {
    return this.answer(
      await fetch(`${base}${path}`, {
        method: 'POST',
        headers: this.headers({'content-type': 'application/x-www-form-urlencoded'}),
        body: new URLSearchParams(fields).toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(15_000),
      }),
    )
  }

  /** Posts a multipart form (a file upload) as a browser does; put `_csrf` in first, as a page's form has it. */
  async postMultipart(path: string, form: FormData, base = this.base): Promise<Answer> {
    return this.answer(await fetch(`${base}${path}`, {method: 'POST', headers: this.headers(), body: form, redirect: 'manual', signal: AbortSignal.timeout(60_000)}))
  }

  /** GETs a page and posts its form (with the page's CSRF token) to `action`. */
  async submit(pagePath: string, action: string, fields: Record<string, string>, base = this.base): Promise<Answer> {
    const page = await this.get(pagePath, base)
    return this.post(action, {_csrf: csrfToken(page.text), ...fields}, base)
  }
}

/**
 * An account made through the sign-up form (its address <username>@example.test), the client
 * holding its session. A refusal throws with the start of the page that said why.
 */
export async function signUpThroughForm(base: string, username: string, options: {password: string; address?: string}): Promise<FormClient> {
  const client = new FormClient(base, options.address)
  const made = await client.submit('/signup', '/signup', {username, email: `${username}@example.test`, password: options.password})
  if (made.status !== 303) throw new Error(`sign-up of ${username} answered ${made.status}: ${made.text.slice(0, 300)}`)
  return client
}

/** The CSRF token a page's forms carry. */
export function csrfToken(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html)
  if (match === null) throw new Error(`no CSRF token in the page: ${html.slice(0, 300)}`)
  return match[1]!
}

import {describe, expect, it} from 'vitest'

import {mentionsIn, normalizePostText, POST_MARKDOWN_MAX, postExcerpt, postMarkdownRefusal, renderPostMarkdown} from '../../../../appliance/community/markdown.js'
import {decodePostCursor, encodePostCursor, postObjectId} from '../../../../appliance/community/posts.js'

describe('a post\'s Markdown', () => {
  it('renders the safe subset: emphasis, lists, code, quotes, links', () => {
    const html = renderPostMarkdown('**Big** news, _really_ ~~not~~\n\n- one\n- two\n\n> quoted\n\n`code` and [the site](https://example.com/a?b=1&c=2)')
    expect(html).toContain('<strong>Big</strong>')
    expect(html).toContain('<em>really</em>')
    expect(html).toContain('<s>not</s>')
    expect(html).toContain('<ul>\n<li>one</li>')
    expect(html).toContain('<blockquote>')
    expect(html).toContain('<code>code</code>')
    expect(html).toContain('<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow ugc noopener">the site</a>')
  })

  it('never lets raw HTML, scripts or event handlers through', () => {
    const html = renderPostMarkdown('<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n<a href="https://x" onclick="alert(3)">x</a>')
    expect(html).not.toMatch(/<script|<img|<a href="https:\/\/x" onclick/i)
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).not.toMatch(/<[^>]+\son\w+=/i)
  })

  it('drops javascript:, data: and vbscript: links, keeping their text', () => {
    for (const url of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'java\tscript:alert(1)', 'data:text/html;base64,PHNjcmlwdD4=', 'vbscript:msgbox(1)']) {
      const html = renderPostMarkdown(`[click](${url})`)
      expect(html, url).not.toMatch(/href="(?!https?:|mailto:)/i)
      expect(html.toLowerCase(), url).not.toContain('href="javascript')
    }
    expect(renderPostMarkdown('<javascript:alert(1)>')).not.toContain('href')
  })

  it('shows no images, headings or tables from Markdown', () => {
    const html = renderPostMarkdown('![tracker](https://evil.example/pixel.gif)\n\n# Heading\n\n| a | b |\n|---|---|\n| 1 | 2 |')
    expect(html).not.toMatch(/<img|<h1|<table/)
  })

  it('keeps mailto and plain http(s) links, and turns bare addresses into links', () => {
    expect(renderPostMarkdown('[mail me](mailto:a@example.com)')).toContain('href="mailto:a@example.com"')
    expect(renderPostMarkdown('see https://example.org/x')).toContain('<a href="https://example.org/x" rel="nofollow ugc noopener">https://example.org/x</a>')
  })

  it('refuses an empty or too long post', () => {
    expect(postMarkdownRefusal('  \n ')).toBe('Write something first.')
    expect(postMarkdownRefusal('x'.repeat(POST_MARKDOWN_MAX + 1))).toMatch(/at most/)
    expect(postMarkdownRefusal('hello')).toBeUndefined()
  })

  it('folds line ends and drops control and direction-override characters', () => {
    expect(normalizePostText(' a\r\nb\u202Ec\u0007 ')).toBe('a\nbc')
  })
})

describe('a post\'s excerpt', () => {
  it('is its words as plain text, cut short', () => {
    const html = renderPostMarkdown('**Big** news & <more>\n\n- one\n- [two](https://example.org)')
    expect(postExcerpt(html, 100)).toBe('Big news & <more> one two')
    expect(postExcerpt(html, 10)).toBe('Big news …')
  })
})

describe('mentions', () => {
  it('finds each @username once, not in e-mail addresses or paths', () => {
    expect(mentionsIn('@Alice and @bob_2, again @alice; mail x@carol.com or /@dave')).toEqual(['alice', 'bob_2'])
    expect(mentionsIn('@ab is too short')).toEqual([])
  })
})

describe('post ids and cursors', () => {
  it('reads only 24 hex digits as an id', () => {
    expect(postObjectId('0123456789abcdef01234567')?.toHexString()).toBe('0123456789abcdef01234567')
    expect(postObjectId('nope')).toBeUndefined()
    expect(postObjectId('{"$gt":""}')).toBeUndefined()
  })

  it('round-trips a cursor and refuses a malformed one', () => {
    const id = postObjectId('0123456789abcdef01234567')!
    const cursor = decodePostCursor(encodePostCursor({_id: id, createdAt: new Date(1_700_000_000_123)}))
    expect(cursor).toEqual({createdAt: new Date(1_700_000_000_123), id: '0123456789abcdef01234567'})
    expect(decodePostCursor('123-xyz')).toBeUndefined()
    expect(decodePostCursor(undefined)).toBeUndefined()
  })
})

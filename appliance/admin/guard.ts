/**
 * Who may open which part of the admin area: admins all of it; site moderators the reports and
 * the channels (disable, enable, end a broadcast), never accounts, settings or the nodes.
 */
import type {FastifyReply, FastifyRequest} from 'fastify'

import type {Role, Viewer} from '../accounts/users.js'
import {errorPage, sendPage, viewerOrLogIn, type PageContextOf} from '../web/html.js'

export type AdminPart = 'admin' | 'moderation'

const allowed: {[P in AdminPart]: readonly Role[]} = {admin: ['admin'], moderation: ['admin', 'moderator']}

/** The guard of one part: the viewer it lets in, or undefined once it answered (log in first; 403 for others). */
export function staffOnly(pageContext: PageContextOf, part: AdminPart): (request: FastifyRequest, reply: FastifyReply) => Viewer | undefined {
  return (request, reply) => {
    const viewer = viewerOrLogIn(request, reply)
    if (viewer === undefined) return undefined
    if (allowed[part].includes(viewer.role)) return viewer
    const [title, message] = part === 'admin' ? ['Admins only', 'This part of the site is for its admins.'] : ['Moderators only', "This part of the site is for its admins and moderators."]
    void sendPage(reply, 403, errorPage(pageContext(request, reply), {title, message}))
    return undefined
  }
}

/** The words a notice left for the next admin page (once). */
export function takeNotice(request: FastifyRequest): string | undefined {
  const notice = request.session.adminNotice
  delete request.session.adminNotice
  return notice
}

// The operator's page and its JSON (issue 18), loaded on the first request that needs them
// (src/ui/lazy.ts): GET / (repositories, and for admins storage, background work and health),
// GET /repository/<name>, GET /v2/_outpost/repositories[/<name>] and GET /v2/_outpost/status.
// Read-only; the same logins and access rules as the registry (src/auth/viewer.ts).
import type { Context } from 'hono'
import { html } from 'hono/html'
import { pageViewer, type Access, type Viewer } from '../auth/index.js'
import { checkRepoName, RegistryError, type RegistryRouter } from '../registry/index.js'
import { page } from './layout.js'
import { detailOf, listPage, pageQuery, recordOf } from './listing.js'
import { collectStatus, type StatusSources } from './status.js'
import { backgroundView, healthView, repositoryList, repositoryView, storageView } from './views.js'

export interface OperatorDeps {
  router: RegistryRouter
  access?: Access
  sources: StatusSources
  /** extensions.ui.enable: the HTML pages; the JSON endpoints answer either way */
  pageEnabled: boolean
}

const NO_STORE = { 'Cache-Control': 'no-store' }

export function operatorHandlers(deps: OperatorDeps) {
  const viewer = (c: Context) => pageViewer(c, deps.access)

  /** The repository a /repository/<name> or /v2/_outpost/repositories/<name> path names. */
  const named = (c: Context, prefix: string): string => {
    const name = decodeURIComponent(c.req.path.slice(prefix.length))
    return checkRepoName(name)
  }

  const readable = (v: Viewer, name: string) => {
    const record = v.canRead(name) ? recordOf(deps.router, name) : undefined
    // Unreadable and unknown look the same, as on /v2/<name>/tags/list for a caller without read.
    if (!record) throw new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`)
    return record
  }

  return {
    pageEnabled: deps.pageEnabled,

    async home(c: Context): Promise<Response> {
      const v = await viewer(c)
      const q = pageQuery((n) => c.req.query(n))
      if (typeof q === 'string') throw new RegistryError('PAGINATION_NUMBER_INVALID', q)
      const list = repositoryList(listPage(deps.router, v, q), q.filter)
      if (!v.admin) return c.html(page('Repositories', v.user, list), 200, NO_STORE)
      const status = await collectStatus(deps.sources)
      const body = html`${list}${storageView(status)}${backgroundView(status)}${healthView(status)}`
      return c.html(page('Overview', v.user, body), 200, NO_STORE)
    },

    async repository(c: Context): Promise<Response> {
      const v = await viewer(c)
      const name = named(c, '/repository/')
      const detail = detailOf(readable(v, name))
      return c.html(page(name, v.user, repositoryView(detail)), 200, NO_STORE)
    },

    async repositoriesJson(c: Context): Promise<Response> {
      const v = await viewer(c)
      const q = pageQuery((n) => c.req.query(n))
      if (typeof q === 'string') throw new RegistryError('PAGINATION_NUMBER_INVALID', q)
      const result = listPage(deps.router, v, q)
      if (result.next) {
        // As the catalog does (distribution-spec "Listing Repositories"): the next page's URL.
        const next = new URLSearchParams({ n: String(q.n), last: result.next })
        if (q.filter) next.set('q', q.filter)
        c.header('Link', `</v2/_outpost/repositories?${next}>; rel="next"`)
      }
      return c.json(result)
    },

    async repositoryJson(c: Context): Promise<Response> {
      const v = await viewer(c)
      return c.json(detailOf(readable(v, named(c, '/v2/_outpost/repositories/'))))
    },

    async statusJson(c: Context): Promise<Response> {
      const v = await viewer(c)
      if (!v.admin) throw new RegistryError('DENIED', 'the status endpoint is for admins')
      return c.json(await collectStatus(deps.sources))
    },
  }
}

export type OperatorHandlers = ReturnType<typeof operatorHandlers>

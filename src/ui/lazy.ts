// The operator's page, loaded lazily like the other optional parts: this shim is all the server
// holds until the first request for the page or its JSON, which imports src/ui/routes.ts (and
// hono/html, the views, the listing). A board whose page is never opened pays nothing for it.
import type { OperatorDeps, OperatorHandlers } from './routes.js'
import type { OperatorEndpoints } from '../http/index.js'

export type { OperatorDeps }
export type { StatusSources, StoreSource, GcView } from './status.js'

export function lazyOperatorPage(deps: OperatorDeps): OperatorEndpoints {
  let loaded: Promise<OperatorHandlers> | undefined
  const handlers = () => (loaded ??= import('./routes.js').then((m) => m.operatorHandlers(deps)))
  return {
    pageEnabled: deps.pageEnabled,
    home: async (c) => (await handlers()).home(c),
    repository: async (c) => (await handlers()).repository(c),
    repositoriesJson: async (c) => (await handlers()).repositoriesJson(c),
    repositoryJson: async (c) => (await handlers()).repositoryJson(c),
    statusJson: async (c) => (await handlers()).statusJson(c),
  }
}

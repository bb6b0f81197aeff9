// The operator's page (issue 18) in memory with app.request(): what the page and its JSON show
// (sizes with shared blobs once, platforms, created, referrers, provenance), that nothing from a
// stored image or a query reaches the page as markup, access control per user, and the config
// switch (extensions.ui.enable) on a real server.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { defaultConfig, parseConfig } from '../src/config/index.js'
import { basic, writeHtpasswd } from './helpers/auth.js'
import { imageOf, scratchDirs, socketServer } from './helpers/harness.js'
import {
  makeImage,
  operatorApp,
  pushImage,
  pushIndex,
  pushReferrer,
  type OperatorApp,
} from './helpers/operator.js'

const dir = scratchDirs()
const USERS = { alice: 'alice-pw', bob: 'bob-pw', admin: 'admin-pw' }
const ACCESS = {
  repositories: {
    'public/**': { anonymousPolicy: ['read'], defaultPolicy: ['read'] },
    'team/**': { policies: [{ users: ['alice'], actions: ['read', 'create'] }] },
  },
  adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
}
type Who = 'anonymous' | keyof typeof USERS
const as = (who: Who) => (who === 'anonymous' ? {} : basic(who, USERS[who]))

describe('the operator page: content', () => {
  let ui: OperatorApp
  let appDigest: string
  let sbom: string
  before(async () => {
    ui = await operatorApp({ root: await dir() })
    // Two tags sharing one layer: the repository counts the layer once.
    const shared = Buffer.from('a shared layer '.repeat(500))
    const one = imageOf(
      Buffer.from(
        JSON.stringify({ os: 'linux', architecture: 'amd64', created: '2026-10-01T00:00:00Z' }),
      ),
      [shared],
    )
    const two = imageOf(
      Buffer.from(
        JSON.stringify({ os: 'linux', architecture: 'amd64', created: '2026-10-02T00:00:00Z' }),
      ),
      [shared, Buffer.from('own layer')],
    )
    await pushImage(ui.request, 'edge/app', one, 'v1')
    await pushImage(ui.request, 'edge/app', two, 'v2')
    appDigest = two.digest
    sbom = await pushReferrer(ui.request, 'edge/app', two)
    await pushIndex(ui.request, 'edge/multi', 'latest', 'multi')
    for (let i = 0; i < 7; i++) await pushImage(ui.request, `many/r${i}`, makeImage(`r${i}`), 'x')
    await ui.settled()
  })
  after(() => ui.close())

  it('lists repositories with tags, size (shared blobs once), platforms and provenance', async () => {
    const res = await ui.request('/v2/_outpost/repositories')
    assert.equal(res.status, 200)
    const body = (await res.json()) as {
      repositories: Array<Record<string, unknown>>
      complete: boolean
    }
    const app = body.repositories.find((r) => r.name === 'edge/app')!
    assert.deepEqual(app.tags, ['v1', 'v2'])
    assert.deepEqual(app.platforms, ['linux/amd64'])
    assert.deepEqual(app.provenance, ['pushed'])
    // Read the layout's own sizes: every blob of the repository once.
    const detail = (await (await ui.request('/v2/_outpost/repositories/edge/app')).json()) as {
      size: number
      images: Array<{
        digest: string
        size: number
        tags: string[]
        referrers: Array<{ digest: string; artifactType?: string }>
        created?: string
      }>
    }
    const [v1, v2] = ['v1', 'v2'].map((t) => detail.images.find((i) => i.tags.includes(t))!)
    const sharedLayer = 'a shared layer '.length * 500
    // The repository holds both images and the SBOM; the shared layer once.
    assert.ok(detail.size < v1.size + v2.size, `${detail.size} counts the shared layer once`)
    assert.ok(detail.size > v1.size + v2.size - sharedLayer - 1)
    assert.equal(v2.created, '2026-10-02T00:00:00Z')
    assert.deepEqual(
      v2.referrers.map((r) => [r.digest, r.artifactType]),
      [[sbom, 'application/spdx+json']],
    )
    assert.equal(
      detail.images.find((i) => i.digest === sbom),
      undefined,
      'a referrer is not an image',
    )
    assert.equal(v2.digest, appDigest)
  })

  it('shows an index with its platforms', async () => {
    const multi = (await (await ui.request('/v2/_outpost/repositories/edge/multi')).json()) as {
      platforms: string[]
      images: Array<{ platforms: string[]; created?: string }>
    }
    assert.deepEqual(multi.platforms, ['linux/amd64', 'linux/arm64/v8'])
    assert.equal(multi.images[0].created, '2026-11-02T08:00:00Z')
  })

  it('pages through repositories with n and last, and filters by name', async () => {
    const seen: string[] = []
    let last = ''
    for (let page = 0; page < 10; page++) {
      const res = await ui.request(`/v2/_outpost/repositories?n=3${last && `&last=${last}`}`)
      const body = (await res.json()) as { repositories: Array<{ name: string }>; next?: string }
      seen.push(...body.repositories.map((r) => r.name))
      assert.equal(res.headers.has('link'), body.next !== undefined)
      if (!body.next) break
      last = body.next
    }
    assert.deepEqual(seen, [
      'edge/app',
      'edge/multi',
      ...Array.from({ length: 7 }, (_, i) => `many/r${i}`),
    ])
    const filtered = (await (await ui.request('/v2/_outpost/repositories?q=MULTI')).json()) as {
      repositories: Array<{ name: string }>
    }
    assert.deepEqual(
      filtered.repositories.map((r) => r.name),
      ['edge/multi'],
    )
    assert.equal((await ui.request('/v2/_outpost/repositories?n=x')).status, 400)
  })

  it('renders the main page and a repository page from the same data', async () => {
    const home = await ui.request('/')
    assert.equal(home.status, 200)
    assert.match(home.headers.get('content-type') ?? '', /text\/html/)
    const text = await home.text()
    assert.match(text, /href="\/repository\/edge\/app"/)
    assert.match(text, /id="storage"/, 'open registry: everyone is admin')
    assert.match(text, /href="\/v2\/_outpost\/status"/)
    const repo = await (await ui.request('/repository/edge/app')).text()
    assert.match(repo, /<span class="chip">v2<\/span>/)
    assert.match(repo, /SBOM/)
    assert.match(repo, new RegExp(`data-copy="${appDigest}"`))
    assert.equal((await ui.request('/repository/edge/none')).status, 404)
  })

  it('drops the record of a repository whose last manifest and layout are gone', async () => {
    const summaries = ui.storage.registry.summaries
    await summaries.refresh('many/r6')
    assert.ok(summaries.records.get('many/r6'))
    const { rm } = await import('node:fs/promises')
    await rm(join(ui.root, 'many/r6'), { recursive: true })
    await summaries.refresh('many/r6')
    await ui.settled()
    assert.equal(summaries.records.get('many/r6'), undefined)
  })

  it('paces refreshes while pushes to one repository keep coming', async () => {
    const summaries = ui.storage.registry.summaries
    let refreshes = 0
    const refresh = summaries.refresh.bind(summaries)
    summaries.refresh = (repo: string) => (refreshes++, refresh(repo))
    try {
      // A push is summarised soon without anyone asking (settled() is not called here): the
      // repository's creation was summarised at once, the manifest after one gap at most.
      await pushImage(ui.request, 'paced/app', makeImage('paced-0'), 't0')
      const tagged = () => summaries.records.get('paced/app')?.tagCount === 1
      for (let i = 0; i < 400 && !tagged(); i++) await delay(5)
      assert.ok(tagged(), 'summarised without settled()')
      // 30 more, one after another: a record rewrite each would be quadratic in the tags.
      for (let i = 1; i <= 30; i++) {
        await pushImage(ui.request, 'paced/app', makeImage(`paced-${i}`), `t${i}`)
      }
      await ui.settled()
      assert.equal(summaries.records.get('paced/app')?.tagCount, 31, 'settled covers them all')
      assert.ok(refreshes < 31, `${refreshes} refreshes for 31 pushes`)
    } finally {
      summaries.refresh = refresh
    }
  })
})

describe('the operator page: hostile content is text, never markup', () => {
  let ui: OperatorApp
  const EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
  before(async () => {
    ui = await operatorApp({ root: await dir() })
    const config = Buffer.from(
      JSON.stringify({ os: EVIL, architecture: '<b>arm</b>', created: EVIL }),
    )
    const image = imageOf(config, [Buffer.from('x')])
    await pushImage(ui.request, 'evil/app', image, 'v1')
    await pushReferrer(ui.request, 'evil/app', image, `application/${EVIL}`)
    await ui.settled()
  })
  after(() => ui.close())

  it('escapes config strings, artifact types and the filter query', async () => {
    const pages = [
      await (await ui.request('/repository/evil/app')).text(),
      await (await ui.request(`/?q=${encodeURIComponent(EVIL)}`)).text(),
      await (await ui.request('/')).text(),
    ]
    for (const text of pages) {
      assert.doesNotMatch(text, /<script>alert/)
      assert.doesNotMatch(text, /<img src=x/)
      assert.doesNotMatch(text, /<b>arm/)
    }
    assert.match(pages[0], /&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.match(pages[1], /value="&quot;&gt;&lt;script&gt;/)
  })

  it('answers a hostile repository path with an OCI error, not a page', async () => {
    const res = await ui.request(`/repository/${encodeURIComponent('<script>alert(1)</script>')}`)
    assert.equal(res.status, 400)
    assert.match(res.headers.get('content-type') ?? '', /application\/json/)
    assert.equal(
      ((await res.json()) as { errors: Array<{ code: string }> }).errors[0].code,
      'NAME_INVALID',
    )
  })
})

describe('the operator page: access control per user', () => {
  let ui: OperatorApp
  before(async () => {
    const root = await dir()
    const htpasswd = await writeHtpasswd(join(root, '..', `htpasswd-ui-${Date.now()}`), USERS)
    ui = await operatorApp({
      root,
      http: { realm: 'factory', auth: { htpasswd: { path: htpasswd } }, accessControl: ACCESS },
    })
    const admin = (path: string, init?: RequestInit) =>
      ui.request(path, { ...init, headers: { ...as('admin'), ...(init?.headers as object) } })
    await pushImage(admin, 'public/app', makeImage('public'), 'v1')
    await pushImage(admin, 'team/secret', makeImage('team'), 'v1')
    await ui.settled()
  })
  after(() => ui.close())
  const get = (who: Who, path: string) => ui.request(path, { headers: as(who) })
  const names = async (who: Who) =>
    (
      (await (await get(who, '/v2/_outpost/repositories')).json()) as {
        repositories: Array<{ name: string }>
      }
    ).repositories.map((r) => r.name)

  it('lists only what each user may read', async () => {
    assert.deepEqual(await names('anonymous'), ['public/app'])
    assert.deepEqual(await names('bob'), ['public/app'])
    assert.deepEqual(await names('alice'), ['public/app', 'team/secret'])
    assert.deepEqual(await names('admin'), ['public/app', 'team/secret'])
    const bobPage = await (await get('bob', '/')).text()
    assert.doesNotMatch(bobPage, /team\/secret/)
    assert.equal((await get('bob', '/repository/team/secret')).status, 404)
    assert.equal((await get('bob', '/v2/_outpost/repositories/team/secret')).status, 404)
    assert.equal((await get('alice', '/repository/team/secret')).status, 200)
  })

  it('shows the admin sections and the status endpoint to admins only', async () => {
    for (const who of ['anonymous', 'bob', 'alice'] as const) {
      assert.doesNotMatch(await (await get(who, '/')).text(), /id="storage"|id="health"/, who)
    }
    assert.equal((await get('anonymous', '/v2/_outpost/status')).status, 401)
    assert.equal((await get('alice', '/v2/_outpost/status')).status, 403)
    const status = await get('admin', '/v2/_outpost/status')
    assert.equal(status.status, 200)
    const body = (await status.json()) as {
      storage: Array<{ repositories: number; bytesUsed: number }>
      health: { ready: boolean; version: string }
    }
    assert.equal(body.storage[0].repositories, 2)
    assert.ok(body.storage[0].bytesUsed > 0)
    assert.equal(body.health.version, '0.0.0-test')
    const page = await (await get('admin', '/')).text()
    assert.match(page, /id="storage"/)
    assert.match(page, /id="background"/)
    assert.match(page, /id="health"/)
  })

  it('sends the Basic challenge for wrong credentials', async () => {
    const res = await ui.request('/', { headers: basic('alice', 'wrong') })
    assert.equal(res.status, 401)
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="factory"')
  })
})

describe('extensions.ui.enable', () => {
  it('is off for a zot config without it, on when enabled, on in the zero-config default', async () => {
    const parse = (ext?: unknown) =>
      parseConfig(
        JSON.stringify({
          storage: { rootDirectory: '/x' },
          ...(ext !== undefined && { extensions: ext }),
        }),
      )
    assert.deepEqual(parse().ui, { enabled: false })
    assert.deepEqual(parse({ ui: { enable: false } }).ui, { enabled: false })
    assert.deepEqual(parse({ ui: { enable: true } }).ui, { enabled: true })
    assert.deepEqual(defaultConfig('/tmp').ui, { enabled: true })
    assert.throws(() => parse({ ui: { enable: true, address: 'x' } }), /ui/)
  })

  it('serves the page on a real server only when enabled; the JSON either way', async () => {
    for (const enabled of [false, true]) {
      const server = await socketServer(await dir(), {}, { ui: { enabled } })
      try {
        const page = await fetch(`${server.url}/`)
        assert.equal(page.status, enabled ? 200 : 404)
        await page.arrayBuffer()
        const json = await fetch(`${server.url}/v2/_outpost/repositories`)
        assert.equal(json.status, 200)
        await json.arrayBuffer()
        const status = await fetch(`${server.url}/v2/_outpost/status`)
        const body = (await status.json()) as {
          health: { ready: boolean }
          storage: Array<{ backend: string }>
        }
        assert.equal(body.health.ready, true)
        assert.equal(body.storage[0].backend, 'filesystem')
      } finally {
        await server.close()
      }
    }
  })

  it("shows GC's schedule: next pass while waiting, the last pass once done, never running after", async () => {
    type Gc = { enabled: boolean; running: boolean; nextPassAt?: string; lastPass?: unknown }
    const gcOf = async (url: string): Promise<Gc> => {
      const res = await fetch(`${url}/v2/_outpost/status`)
      return ((await res.json()) as { storage: Array<{ gc: Gc }> }).storage[0].gc
    }
    const waiting = await socketServer(await dir(), {
      gc: { enabled: true, delayMs: 3_600_000, intervalMs: 0 },
    })
    try {
      const gc = await gcOf(waiting.url)
      assert.equal(gc.running, false)
      assert.equal(gc.lastPass, undefined)
      const inMs = Date.parse(gc.nextPassAt!) - Date.now()
      assert.ok(inMs > 3_000_000 && inMs <= 3_600_000, `next pass in ${inMs} ms`)
    } finally {
      await waiting.close()
    }
    const once = await socketServer(await dir(), {
      gc: { enabled: true, delayMs: 20, intervalMs: 0 },
    })
    try {
      let gc = await gcOf(once.url)
      for (let i = 0; i < 400 && !gc.lastPass; i++) {
        await delay(10)
        gc = await gcOf(once.url)
      }
      assert.ok(gc.lastPass, 'a pass ended')
      assert.equal(gc.running, false)
      assert.equal(gc.nextPassAt, undefined, 'gcInterval 0: no further pass')
    } finally {
      await once.close()
    }
  })
})

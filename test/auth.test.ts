// Authentication and access control over a real socket: the /v2/ challenge, the auth matrix
// (anonymous / user / admin x read / push / delete x allowed and denied repositories), catalog
// filtering, mounts, maintenance endpoints, the credential cache, htpasswd reloads, failDelay,
// SIGHUP-style reloads, and skopeo pushing with and without credentials.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseConfig, ConfigError } from '../src/config/index.js'
import type { RunningServer } from '../src/server/server.js'
import { haveCommand, makeImage, pushImage, scratchDirs, sha256 } from './helpers/harness.js'
import {
  authServer,
  basic,
  httpSettings,
  skopeo,
  writeHtpasswd,
  writeLayout,
} from './helpers/auth.js'

const reason = (await haveCommand('skopeo'))
  ? false
  : 'needs skopeo (install the Debian package skopeo)'
const dir = scratchDirs()

const USERS = { alice: 'alice-pw', bob: 'bob-pw', admin: 'admin-pw' }
const ACCESS = {
  repositories: {
    'public/**': {
      anonymousPolicy: ['read'],
      defaultPolicy: ['read'],
      policies: [{ users: ['alice'], actions: ['read', 'create', 'update', 'delete'] }],
    },
    'team/**': {
      policies: [
        { users: ['alice'], actions: ['read', 'create', 'delete'] },
        { users: ['bob'], actions: ['read'] },
      ],
    },
  },
  adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
}

type Who = 'anonymous' | keyof typeof USERS
const creds = (who: Who) => (who === 'anonymous' ? {} : basic(who, USERS[who]))

describe('access control', () => {
  let server: RunningServer & { root: string }
  let htpasswd: string
  const call = (who: Who, path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { ...creds(who), ...(init.headers as Record<string, string>) },
    })
  const requester = (who: Who) => (path: string, init?: RequestInit) => call(who, path, init)

  before(async () => {
    const root = await dir()
    htpasswd = await writeHtpasswd(join(root, '..', `htpasswd-${Date.now()}`), USERS, {
      bob: '2a',
      admin: '2b',
    })
    server = await authServer(root, {
      realm: 'factory',
      auth: { htpasswd: { path: htpasswd } },
      accessControl: ACCESS,
    })
  })
  after(async () => server.close())

  /** Seed `repo` with a fresh image under `tag` (as admin); returns its digest. */
  async function seed(repo: string, label: string, tag = 'seed'): Promise<string> {
    const image = makeImage(`${repo}-${label}-${Math.random()}`)
    const res = await pushImage(requester('admin'), repo, image, tag)
    assert.equal(res.status, 201, `seeding ${repo}`)
    return image.digest
  }

  /** The status of one operation: the manifest GET, the whole push, or a manifest DELETE. */
  async function attempt(who: Who, op: 'read' | 'push' | 'delete', repo: string) {
    if (op === 'read') return (await call(who, `/v2/${repo}/manifests/seed`)).status
    if (op === 'push') {
      const image = makeImage(`${who}-${repo}-${Math.random()}`)
      const blob = await call(who, `/v2/${repo}/blobs/uploads/?digest=${sha256(image.config)}`, {
        method: 'POST',
        body: image.config,
      })
      if (blob.status !== 201) return blob.status
      return (await pushImage(requester(who), repo, image, `by-${who}`)).status
    }
    const digest = await seed(repo, `${who}-delete`, 'doomed')
    return (await call(who, `/v2/${repo}/manifests/${digest}`, { method: 'DELETE' })).status
  }

  it('answers the auth matrix exactly as configured', async () => {
    for (const repo of ['public/app', 'team/app', 'other/app']) await seed(repo, 'read')
    // [who, op, repo, status]
    const matrix: Array<[Who, 'read' | 'push' | 'delete', string, number]> = [
      ['anonymous', 'read', 'public/app', 200],
      ['anonymous', 'push', 'public/app', 401],
      ['anonymous', 'delete', 'public/app', 401],
      ['anonymous', 'read', 'team/app', 401],
      ['anonymous', 'push', 'team/app', 401],
      ['anonymous', 'read', 'other/app', 401],
      ['alice', 'read', 'public/app', 200],
      ['alice', 'push', 'public/app', 201],
      ['alice', 'delete', 'public/app', 202],
      ['alice', 'read', 'team/app', 200],
      ['alice', 'push', 'team/app', 201],
      ['alice', 'delete', 'team/app', 202],
      ['alice', 'read', 'other/app', 403],
      ['alice', 'push', 'other/app', 403],
      ['alice', 'delete', 'other/app', 403],
      ['bob', 'read', 'public/app', 200],
      ['bob', 'push', 'public/app', 403],
      ['bob', 'delete', 'public/app', 403],
      ['bob', 'read', 'team/app', 200],
      ['bob', 'push', 'team/app', 403],
      ['bob', 'delete', 'team/app', 403],
      ['bob', 'read', 'other/app', 403],
      ['admin', 'read', 'public/app', 200],
      ['admin', 'push', 'team/app', 201],
      ['admin', 'read', 'other/app', 200],
      ['admin', 'push', 'other/app', 201],
      ['admin', 'delete', 'other/app', 202],
    ]
    const got = []
    for (const [who, op, repo] of matrix) got.push([who, op, repo, await attempt(who, op, repo)])
    assert.deepEqual(got, matrix)
  })

  it('refuses with the OCI body: 401 with the challenge, 403 DENIED without', async () => {
    const anon = await call('anonymous', '/v2/team/app/manifests/seed')
    assert.equal(anon.status, 401)
    assert.equal(anon.headers.get('www-authenticate'), 'Basic realm="factory", charset="UTF-8"')
    assert.equal(((await anon.json()) as any).errors[0].code, 'UNAUTHORIZED')
    const bob = await call('bob', '/v2/other/app/manifests/seed')
    assert.equal(bob.status, 403)
    assert.equal(((await bob.json()) as any).errors[0].code, 'DENIED')
    const wrong = await call('anonymous', '/v2/public/app/manifests/seed', {
      headers: basic('alice', 'not-her-password'),
    })
    assert.equal(wrong.status, 401, 'a wrong password is refused, not served as anonymous')
    const head = await call('anonymous', '/v2/team/app/manifests/seed', { method: 'HEAD' })
    assert.equal(head.status, 401)
  })

  it('GET /v2/ answers 200 with the challenge when anonymous reads, and empty Basic is anonymous', async () => {
    for (const headers of [{}, basic('', '')]) {
      const res = await call('anonymous', '/v2/', { headers })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="factory"/)
    }
    assert.equal((await call('anonymous', '/v2/', { headers: basic('', '') })).status, 200)
    const empty = await call('anonymous', '/v2/public/app/manifests/seed', {
      headers: basic('', ''),
    })
    assert.equal(empty.status, 200)
    assert.equal((await call('alice', '/v2/')).status, 200)
  })

  it('a move of an existing tag needs update; a new tag needs only create', async () => {
    const first = makeImage(`tag-move-1-${Math.random()}`)
    const second = makeImage(`tag-move-2-${Math.random()}`)
    assert.equal((await pushImage(requester('alice'), 'team/moves', first, 'v1')).status, 201)
    // alice has create but not update on team/**: moving v1 is refused, a new tag is not.
    assert.equal((await pushImage(requester('alice'), 'team/moves', second, 'v1')).status, 403)
    assert.equal((await pushImage(requester('alice'), 'team/moves', second, 'v2')).status, 201)
    assert.equal((await pushImage(requester('admin'), 'team/moves', second, 'v1')).status, 201)
  })

  it('lists in _catalog only the repositories the caller may read', async () => {
    for (const repo of ['public/cat', 'team/cat', 'other/cat']) await seed(repo, 'cat')
    const list = async (who: Who) => {
      const res = await call(who, '/v2/_catalog')
      assert.equal(res.status, 200)
      return ((await res.json()) as { repositories: string[] }).repositories
    }
    const prefixes = (repos: string[]) => [...new Set(repos.map((r) => r.split('/')[0]))].sort()
    assert.deepEqual(prefixes(await list('anonymous')), ['public'])
    assert.deepEqual(prefixes(await list('bob')), ['public', 'team'])
    assert.deepEqual(prefixes(await list('admin')), ['other', 'public', 'team'])
    assert.ok((await list('admin')).includes('other/cat'))
  })

  it('mounts only from a repository the caller may read, else opens an upload session', async () => {
    const image = makeImage(`mount-${Math.random()}`)
    assert.equal((await pushImage(requester('admin'), 'other/src', image, 'v1')).status, 201)
    const digest = sha256(image.layers[0])
    const path = `/v2/public/dst/blobs/uploads/?mount=${digest}&from=other/src`
    const refused = await call('alice', path, { method: 'POST' })
    assert.equal(refused.status, 202, 'alice may not read other/src: no mount')
    assert.match(refused.headers.get('location') ?? '', /\/v2\/public\/dst\/blobs\/uploads\//)
    assert.equal((await call('alice', `/v2/public/dst/blobs/${digest}`)).status, 404)
    const mounted = await call('admin', path, { method: 'POST' })
    assert.equal(mounted.status, 201)
    assert.equal((await call('alice', `/v2/public/dst/blobs/${digest}`)).status, 200)
  })

  it('keeps the maintenance endpoints for admins', async () => {
    assert.equal((await call('anonymous', '/v2/_outpost/scrub')).status, 401)
    assert.equal((await call('alice', '/v2/_outpost/scrub')).status, 403)
    const admin = await call('admin', '/v2/_outpost/scrub')
    assert.equal(admin.status, 200)
    assert.equal(((await admin.json()) as { enabled: boolean }).enabled, false)
  })

  it('pays one bcrypt compare for many requests with the same credentials', async () => {
    const before = server.access.compares
    for (let i = 0; i < 20; i++)
      assert.equal((await call('bob', '/v2/public/app/tags/list')).status, 200)
    const parallel = await Promise.all(
      Array.from({ length: 10 }, () => call('bob', '/v2/public/app/tags/list')),
    )
    assert.ok(parallel.every((r) => r.status === 200))
    // bob's credentials may already be cached from earlier tests: at most one compare.
    assert.ok(server.access.compares - before <= 1, `${server.access.compares - before} compares`)
    // A login never seen before costs exactly one, however many requests carry it.
    await writeHtpasswd(htpasswd, { ...USERS, carol: 'carol-pw' })
    await new Promise((r) => setTimeout(r, 1100)) // the file is checked at most once a second
    const start = server.access.compares
    const carol = Array.from({ length: 8 }, () =>
      fetch(`${server.url}/v2/public/app/tags/list`, { headers: basic('carol', 'carol-pw') }),
    )
    assert.ok((await Promise.all(carol)).every((r) => r.status === 200))
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${server.url}/v2/public/app/tags/list`, {
        headers: basic('carol', 'carol-pw'),
      })
      assert.equal(res.status, 200)
    }
    assert.equal(server.access.compares - start, 1)
    // Wrong passwords are never cached: each one is compared.
    for (let i = 0; i < 3; i++) {
      await fetch(`${server.url}/v2/`, { headers: basic('carol', 'wrong') })
    }
    assert.equal(server.access.compares - start, 4)
  })

  it('picks up a changed htpasswd file without a restart', async () => {
    assert.equal((await call('alice', '/v2/team/app/tags/list')).status, 200)
    await writeHtpasswd(htpasswd, { ...USERS, alice: 'new-alice-pw' })
    await new Promise((r) => setTimeout(r, 1100))
    assert.equal(
      (await call('alice', '/v2/team/app/tags/list')).status,
      401,
      'old password cached?',
    )
    const fresh = await fetch(`${server.url}/v2/team/app/tags/list`, {
      headers: basic('alice', 'new-alice-pw'),
    })
    assert.equal(fresh.status, 200)
    await writeHtpasswd(htpasswd, USERS)
    await new Promise((r) => setTimeout(r, 1100))
    assert.equal((await call('alice', '/v2/team/app/tags/list')).status, 200)
  })

  it('reloads policies in place (what SIGHUP calls)', async () => {
    assert.equal((await call('bob', '/v2/other/app/manifests/seed')).status, 403)
    const root = server.root
    const widened = {
      ...ACCESS,
      repositories: { ...ACCESS.repositories, 'other/**': { defaultPolicy: ['read'] } },
    }
    const http = { realm: 'factory', auth: { htpasswd: { path: htpasswd } } }
    await server.access.reload(httpSettings(root, { ...http, accessControl: widened }))
    assert.equal((await call('bob', '/v2/other/app/manifests/seed')).status, 200)
    await assert.rejects(
      server.access.reload(
        httpSettings(root, { auth: { htpasswd: { path: `${htpasswd}.gone` } } }),
      ),
      /ENOENT/,
    )
    assert.equal((await call('bob', '/v2/other/app/manifests/seed')).status, 200, 'kept on failure')
    await server.access.reload(httpSettings(root, { ...http, accessControl: ACCESS }))
    assert.equal((await call('bob', '/v2/other/app/manifests/seed')).status, 403)
  })

  it('decides who may read the metrics', async () => {
    const { access } = server
    assert.equal(access.canSeeMetrics({}), false, 'anonymous, with logins and no setting')
    assert.equal(access.canSeeMetrics({ user: 'bob' }), true, 'any authenticated user')
    const anon = await call('anonymous', '/metrics')
    assert.equal(anon.status, 401)
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm="factory"/)
    assert.equal((await call('bob', '/metrics')).status, 200)
    await access.reload(
      httpSettings(server.root, {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: { ...ACCESS, metrics: { users: ['alice'] } },
      }),
    )
    assert.equal(access.canSeeMetrics({ user: 'bob' }), false)
    assert.equal((await call('bob', '/metrics')).status, 403)
    assert.equal((await call('alice', '/metrics')).status, 200)
    assert.equal(access.canSeeMetrics({ user: 'alice' }), true)
    assert.equal(access.canSeeMetrics({ user: 'admin' }), true)
    await access.reload(
      httpSettings(server.root, {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: { ...ACCESS, metrics: { anonymous: true } },
      }),
    )
    assert.equal(access.canSeeMetrics({}), true)
    await access.reload(
      httpSettings(server.root, {
        realm: 'factory',
        auth: { htpasswd: { path: htpasswd } },
        accessControl: ACCESS,
      }),
    )
  })
})

describe('access settings', () => {
  const parse = (http: unknown) =>
    parseConfig(JSON.stringify({ storage: { rootDirectory: '/tmp' }, http }))

  it('refuses what it does not support, naming the key', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ auth: { bearer: { realm: 'x' } } }, /http\.auth\.bearer: .*not supported yet/],
      [{ auth: { ldap: {} } }, /http\.auth\.ldap: LDAP authentication is not supported yet/],
      [{ auth: { token: {} } }, /http\.auth\.token: .*needs http\.auth\.htpasswd/],
      [{ accessControl: { groups: {} } }, /accessControl\.groups: .*not supported yet/],
      [
        { accessControl: { repositories: { '**': { defaultPolicy: ['write'] } } } },
        /defaultPolicy\.0/,
      ],
      [{ auth: { failDelay: -1 } }, /http\.auth\.failDelay/],
    ]
    for (const [http, message] of cases) {
      assert.throws(
        () => parse(http),
        (err) => err instanceof ConfigError && message.test(err.message),
        JSON.stringify(http),
      )
    }
  })

  it('resolves the htpasswd path, failDelay, realm and token settings', () => {
    const access = parse({
      realm: 'edge',
      auth: { htpasswd: { path: 'relative/htpasswd' }, failDelay: 2, token: { expiry: '90s' } },
    }).http.access!
    assert.equal(access.htpasswdPath, join(process.cwd(), 'relative/htpasswd'))
    assert.equal(access.failDelayMs, 2000)
    assert.equal(access.realm, 'edge')
    assert.deepEqual(access.token, { service: 'outpost', expiryMs: 90_000 })
  })
})

describe('logins and edge setups', () => {
  it('waits failDelay seconds before refusing a wrong password, not a right one', async () => {
    const root = await dir()
    const file = await writeHtpasswd(join(root, '..', `fd-${Date.now()}`), USERS)
    const server = await authServer(root, { auth: { htpasswd: { path: file }, failDelay: 1 } })
    try {
      let began = performance.now()
      const wrong = await fetch(`${server.url}/v2/`, { headers: basic('alice', 'nope') })
      assert.equal(wrong.status, 401)
      assert.ok(performance.now() - began >= 990, `answered after ${performance.now() - began} ms`)
      began = performance.now()
      const right = await fetch(`${server.url}/v2/`, { headers: basic('alice', USERS.alice) })
      assert.equal(right.status, 200)
      assert.ok(performance.now() - began < 900)
      // Without accessControl: logged-in users may do everything, anonymous ones nothing.
      const anon = await fetch(`${server.url}/v2/`)
      assert.equal(anon.status, 401)
      assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm="outpost"/)
    } finally {
      await server.close()
    }
  })

  it('ignores lines that are not bcrypt and accepts $2a$, $2b$ and $2y$', async () => {
    const root = await dir()
    const file = join(root, '..', `mixed-${Date.now()}`)
    await writeHtpasswd(file, USERS, { alice: '2a', bob: '2b', admin: '2y' })
    await writeFile(file, `# comment\nmd5:$apr1$abc$def\n\n`, { flag: 'a' })
    const server = await authServer(root, { auth: { htpasswd: { path: file } } })
    try {
      for (const [user, password] of Object.entries(USERS)) {
        const res = await fetch(`${server.url}/v2/`, { headers: basic(user, password) })
        assert.equal(res.status, 200, user)
      }
      const md5 = await fetch(`${server.url}/v2/`, { headers: basic('md5', 'abc') })
      assert.equal(md5.status, 401)
    } finally {
      await server.close()
    }
  })

  it(
    'skopeo pushes with --dest-creds, is refused without, and pulls anonymously',
    { skip: reason },
    async () => {
      // The common edge setup: the htpasswd path and one policy.
      const root = await dir()
      const work = await dir('outpost-skopeo-auth-')
      const file = await writeHtpasswd(join(work, 'htpasswd'), { pusher: 'push-pw' })
      const server = await authServer(root, {
        auth: { htpasswd: { path: file } },
        accessControl: {
          repositories: {
            '**': { anonymousPolicy: ['read'], defaultPolicy: ['read', 'create', 'update'] },
          },
        },
      })
      try {
        const authFile = join(work, 'auth.json')
        await writeFile(authFile, '{}')
        const image = makeImage(`skopeo-auth-${Math.random()}`, 2)
        await writeLayout(join(work, 'layout'), image, 'v1')
        const dest = `docker://${server.url.replace('http://', '')}/edge/app:v1`
        const src = `oci:${join(work, 'layout')}:v1`
        const refused = await skopeo(authFile, '--dest-tls-verify=false', src, dest)
        assert.equal(refused.ok, false)
        assert.match(refused.output, /unauthorized|authentication required/i)
        const pushed = await skopeo(
          authFile,
          '--dest-tls-verify=false',
          '--dest-creds',
          'pusher:push-pw',
          src,
          dest,
        )
        assert.ok(pushed.ok, pushed.output)
        const res = await fetch(`${server.url}/v2/edge/app/manifests/v1`, {
          headers: { Accept: image.mediaType },
        })
        assert.equal(res.status, 200)
        // skopeo compresses the uncompressed layers on the way: the config is the same.
        const manifest = (await res.json()) as { config: { digest: string } }
        assert.equal(manifest.config.digest, sha256(image.config))
        const pulled = await skopeo(
          authFile,
          '--src-tls-verify=false',
          dest.replace(':v1', ':v1'),
          `oci:${join(work, 'back')}:v1`,
        )
        assert.ok(pulled.ok, pulled.output)
      } finally {
        await server.close()
      }
    },
  )
})

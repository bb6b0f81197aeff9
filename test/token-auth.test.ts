// Outpost as its own token realm (http.auth.token): the Bearer challenge, the token endpoint's
// response and grants per accessControl, tokens checked on every request (scope, signature,
// expiry), and skopeo following the Bearer challenge to push and pull.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { RunningServer } from '../src/server/server.js'
import { haveCommand, makeImage, pushImage, scratchDirs, sha256 } from './helpers/harness.js'
import { authServer, basic, skopeo, writeHtpasswd, writeLayout } from './helpers/auth.js'

const reason = (await haveCommand('skopeo'))
  ? false
  : 'needs skopeo (install the Debian package skopeo)'
const dir = scratchDirs()
const USERS = { pusher: 'push-pw', reader: 'read-pw' }

interface TokenReply {
  token: string
  access_token: string
  expires_in: number
  issued_at: string
}

/** The `access` claim of a token (its middle part). */
function grants(token: string): Array<{ type: string; name: string; actions: string[] }> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).access
}

async function tokenServer(root: string, work: string, anonymousRead: boolean) {
  const file = await writeHtpasswd(join(work, `htpasswd-${anonymousRead}`), USERS)
  return authServer(root, {
    auth: { htpasswd: { path: file }, token: { service: 'outpost-test', expiry: '60s' } },
    accessControl: {
      repositories: {
        '**': {
          defaultPolicy: ['read'],
          anonymousPolicy: anonymousRead ? ['read'] : [],
          policies: [{ users: ['pusher'], actions: ['read', 'create', 'update', 'delete'] }],
        },
      },
    },
  })
}

describe('token realm', () => {
  let server: RunningServer & { root: string }
  let work: string
  const realm = () => `${server.url}/v2/_outpost/token`
  const token = async (headers: Record<string, string>, ...scopes: string[]) => {
    const query = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&')
    return fetch(`${realm()}?service=outpost-test&${query}`, { headers })
  }
  const bearer = (t: string) => ({ Authorization: `Bearer ${t}` })

  before(async () => {
    work = await dir('outpost-token-')
    server = await tokenServer(await dir(), work, false)
  })
  after(async () => server.close())

  it('challenges with Bearer, naming the realm and service', async () => {
    const res = await fetch(`${server.url}/v2/`)
    assert.equal(res.status, 401)
    assert.equal(
      res.headers.get('www-authenticate'),
      `Bearer realm="${realm()}",service="outpost-test"`,
    )
    const repo = await fetch(`${server.url}/v2/a/b/manifests/v1`)
    assert.equal(repo.status, 401)
    assert.match(repo.headers.get('www-authenticate')!, /,scope="repository:a\/b:pull"$/)
  })

  it('issues tokens granting what the policy allows, in the token spec shape', async () => {
    const res = await token(basic('pusher', USERS.pusher), 'repository:a/b:pull,push')
    assert.equal(res.status, 200)
    const body = (await res.json()) as TokenReply
    assert.equal(body.token, body.access_token)
    assert.equal(body.expires_in, 60)
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 5000)
    assert.deepEqual(grants(body.token), [
      { type: 'repository', name: 'a/b', actions: ['pull', 'push'] },
    ])
    const reader = (await (
      await token(basic('reader', USERS.reader), 'repository:a/b:pull,push,delete')
    ).json()) as TokenReply
    assert.deepEqual(grants(reader.token), [{ type: 'repository', name: 'a/b', actions: ['pull'] }])
    const wrong = await token(basic('reader', 'nope'), 'repository:a/b:pull')
    assert.equal(wrong.status, 401)
    // Anonymous clients may do nothing here: the realm asks them to log in (Basic).
    const anon = await token({}, 'repository:a/b:pull')
    assert.equal(anon.status, 401)
    assert.match(anon.headers.get('www-authenticate')!, /^Basic realm=/)
  })

  it('checks every request against the token: scope, signature, expiry', async () => {
    const push = (await (
      await token(basic('pusher', USERS.pusher), 'repository:a/b:pull,push')
    ).json()) as TokenReply
    const image = makeImage(`token-${Math.random()}`)
    const requester =
      (t: string) =>
      (path: string, init: RequestInit = {}) =>
        fetch(`${server.url}${path}`, { ...init, headers: { ...bearer(t), ...init.headers } })
    assert.equal((await pushImage(requester(push.token), 'a/b', image, 'v1')).status, 201)
    const read = (await (
      await token(basic('reader', USERS.reader), 'repository:a/b:pull,push')
    ).json()) as TokenReply
    const get = await fetch(`${server.url}/v2/a/b/manifests/v1`, { headers: bearer(read.token) })
    assert.equal(get.status, 200)
    // The reader's token grants no push, and no token would: 403.
    const refused = await requester(read.token)('/v2/a/b/blobs/uploads/', { method: 'POST' })
    assert.equal(refused.status, 403)
    // The pusher's pull-only token would be widened by a new token: 401 naming the scope.
    const narrow = (await (
      await token(basic('pusher', USERS.pusher), 'repository:a/b:pull')
    ).json()) as TokenReply
    const retry = await requester(narrow.token)('/v2/a/b/blobs/uploads/', { method: 'POST' })
    assert.equal(retry.status, 401)
    assert.match(retry.headers.get('www-authenticate')!, /scope="repository:a\/b:pull,push"/)
    // Another repository than the token names: ask for a new token.
    const other = await fetch(`${server.url}/v2/c/d/tags/list`, { headers: bearer(push.token) })
    assert.equal(other.status, 401)
    assert.match(other.headers.get('www-authenticate')!, /scope="repository:c\/d:pull"/)
    // A tampered token (claims rewritten to grant delete) fails its signature.
    const [h, , s] = push.token.split('.')
    const forged = Buffer.from(
      JSON.stringify({
        sub: 'pusher',
        aud: 'outpost-test',
        exp: Math.floor(Date.now() / 1000) + 60,
        access: [{ type: 'repository', name: 'a/b', actions: ['*'] }],
      }),
    ).toString('base64url')
    const tampered = await fetch(`${server.url}/v2/a/b/manifests/${image.digest}`, {
      method: 'DELETE',
      headers: bearer(`${h}.${forged}.${s}`),
    })
    assert.equal(tampered.status, 401)
    // An expired token, signed by the server itself.
    const old = server.access.signer.issue(
      'pusher',
      'outpost-test',
      [{ type: 'repository', name: 'a/b', actions: ['pull'] }],
      1000,
      Date.now() - 10_000,
    )
    const expired = await fetch(`${server.url}/v2/a/b/tags/list`, { headers: bearer(old.token) })
    assert.equal(expired.status, 401)
  })

  it('skopeo follows the Bearer challenge to push and pull', { skip: reason }, async () => {
    const authFile = join(work, 'auth.json')
    await writeFile(authFile, '{}')
    const image = makeImage(`skopeo-token-${Math.random()}`, 2)
    await writeLayout(join(work, 'layout'), image, 'v1')
    const src = `oci:${join(work, 'layout')}:v1`
    const dest = `docker://${server.url.replace('http://', '')}/tok/app:v1`
    const tls = '--dest-tls-verify=false'
    const issued = server.access.signer.issued
    const anonymous = await skopeo(authFile, tls, src, dest)
    assert.equal(anonymous.ok, false)
    const reader = await skopeo(authFile, tls, '--dest-creds', 'reader:read-pw', src, dest)
    assert.equal(reader.ok, false, 'reader may not push')
    const pushed = await skopeo(authFile, tls, '--dest-creds', 'pusher:push-pw', src, dest)
    assert.ok(pushed.ok, pushed.output)
    assert.ok(server.access.signer.issued > issued, 'skopeo fetched tokens')
    const back = join(work, 'back')
    const pulled = await skopeo(
      authFile,
      '--src-tls-verify=false',
      '--src-creds',
      'reader:read-pw',
      dest,
      `oci:${back}:v1`,
    )
    assert.ok(pulled.ok, pulled.output)
    const manifest = await fetch(`${server.url}/v2/tok/app/manifests/v1`, {
      headers: basic('reader', USERS.reader),
    })
    const config = ((await manifest.json()) as { config: { digest: string } }).config.digest
    assert.equal(config, sha256(image.config))
  })

  it(
    'with anonymous reads, GET /v2/ is 200 with the challenge and skopeo pulls without credentials',
    { skip: reason },
    async () => {
      const open = await tokenServer(await dir(), work, true)
      try {
        const base = await fetch(`${open.url}/v2/`)
        assert.equal(base.status, 200)
        assert.match(base.headers.get('www-authenticate')!, /^Bearer realm=/)
        const anon = await fetch(`${open.url}/v2/_outpost/token?scope=repository:x/y:pull,push`)
        assert.equal(anon.status, 200)
        const body = (await anon.json()) as TokenReply
        assert.deepEqual(grants(body.token), [
          { type: 'repository', name: 'x/y', actions: ['pull'] },
        ])
        const authFile = join(work, 'auth-open.json')
        await writeFile(authFile, '{}')
        const image = makeImage(`skopeo-anon-${Math.random()}`)
        await writeLayout(join(work, 'layout-open'), image, 'v1')
        const dest = `docker://${open.url.replace('http://', '')}/x/y:v1`
        const tls = '--dest-tls-verify=false'
        const src = `oci:${join(work, 'layout-open')}:v1`
        assert.equal((await skopeo(authFile, tls, src, dest)).ok, false, 'anonymous push')
        const pushed = await skopeo(authFile, tls, '--dest-creds', 'pusher:push-pw', src, dest)
        assert.ok(pushed.ok, pushed.output)
        const pulled = await skopeo(
          authFile,
          '--src-tls-verify=false',
          dest,
          `oci:${join(work, 'open-back')}:v1`,
        )
        assert.ok(pulled.ok, pulled.output)
      } finally {
        await open.close()
      }
    },
  )
})

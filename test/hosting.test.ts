// Read-only hosting (Outpost's `hosting` key): layout directories made by skopeo, made read-only
// (chmod -R a-w), are served under a name prefix without copying, pulled with skopeo and over
// HTTP, and never written: pushes and deletes get 403 DENIED naming the hosted directory, and
// since tests run as root (which ignores permissions) every file and directory under the hosted
// paths is compared, with its size and mtime, before and after.
import assert from 'node:assert/strict'
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import { openHostedStore } from '../src/server/hosted-store.js'
import type { RunningServer } from '../src/server/server.js'
import { Digest } from '../src/registry/index.js'
import {
  inMemoryRegistry,
  makeImage,
  pushImage,
  removeDir,
  sha256,
  socketServer,
  tempDir,
} from './helpers/harness.js'
import { buildImage, Layout, missingTools, run, skopeoCopy } from './helpers/images.js'
import { suiteNeeding } from './helpers/suite.js'

const reason = await missingTools('skopeo', 'umoci')

/** Every entry under `dir` with its kind, size and mtime, for "nothing changed" checks. */
async function snapshot(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  const lines: string[] = []
  for (const e of [{ parentPath: dir, name: '' }, ...entries]) {
    const path = join(e.parentPath, e.name)
    const s = await lstat(path)
    lines.push(`${relative(dir, path)} ${s.mode.toString(8)} ${s.size} ${s.mtimeMs} ${s.nlink}`)
  }
  return lines.sort()
}

describe('configuration of hosting', () => {
  const config = (hosting: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ storage: { rootDirectory: '/srv/outpost', ...extra }, hosting })

  it('accepts a directory of layouts (prefix) and one layout (repository)', () => {
    const c = parseConfig(
      config([
        { path: '/media/usb/images', prefix: 'usb' },
        { path: '/mnt/nfs/alpine', repository: 'nfs/alpine' },
      ]),
    )
    assert.deepEqual(c.hosting, [
      { path: '/media/usb/images', mountAt: 'usb', kind: 'prefix' },
      { path: '/mnt/nfs/alpine', mountAt: 'nfs/alpine', kind: 'repository' },
    ])
  })

  it('rejects ambiguous, overlapping and misplaced entries with the JSON path', () => {
    assert.throws(
      () => parseConfig(config([{ path: '/m', prefix: 'a', repository: 'a/b' }])),
      /hosting\.0: give exactly one of "prefix"/,
    )
    assert.throws(() => parseConfig(config([{ path: '/m', prefix: 'Bad' }])), /hosting\.0\.prefix/)
    assert.throws(
      () =>
        parseConfig(
          config([
            { path: '/m', prefix: 'usb' },
            { path: '/n', repository: 'usb/app' },
          ]),
        ),
      /hosting\.1: "usb\/app" overlaps hosting\.0 "usb"/,
    )
    assert.throws(
      () => parseConfig(config([{ path: '/srv/outpost/usb', prefix: 'usb' }])),
      /hosting\.0\.path: \/srv\/outpost\/usb overlaps the storage root/,
    )
    assert.throws(
      () =>
        parseConfig(
          config([{ path: '/m', prefix: 'a' }], {
            subPaths: { '/a': { rootDirectory: '/srv/a' } },
          }),
        ),
      /hosting\.0: "a" overlaps the subpath "\/a"/,
    )
  })
})

suiteNeeding('a read-only hosted layout directory', reason, () => {
  let work: string
  let root: string
  let usb: string
  let single: string
  let server: RunningServer
  let host: string
  let usbBefore: string[]
  let singleBefore: string[]
  let bad: { digest: string; bytes: Buffer }
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)

  before(async () => {
    work = await tempDir('outpost-hosting-')
    root = await tempDir('outpost-hosting-root-')
    usb = join(work, 'usb')
    single = join(work, 'single')
    const src = join(work, 'src')
    await buildImage(src, 'base', [{ 'etc/motd': 'from a usb stick\n' }], work)
    await buildImage(src, 'tools', [{ 'bin/tool': 'one\n' }, { 'share/t': 'two\n' }], work)
    await mkdir(join(usb, 'team'), { recursive: true })
    await skopeoCopy(`oci:${src}:base`, `oci:${usb}/app:v1`)
    await skopeoCopy(`oci:${src}:tools`, `oci:${usb}/team/tools:v2`)
    await skopeoCopy(`oci:${src}:tools`, `oci:${usb}/bad:v1`)
    await skopeoCopy(`oci:${src}:base`, `oci:${single}:latest`)
    // A layer of usb/bad whose bytes no longer match its digest (bit rot on the stick).
    const layer = (await new Layout(join(usb, 'bad')).manifest('v1')).parsed.layers[0]
    const file = join(usb, 'bad/blobs/sha256', layer.digest.slice('sha256:'.length))
    const bytes = await readFile(file)
    bytes[bytes.length - 1] ^= 0xff
    await writeFile(file, bytes)
    bad = { digest: layer.digest, bytes }
    await run('chmod', ['-R', 'a-w', usb, single])
    usbBefore = await snapshot(usb)
    singleBefore = await snapshot(single)
    server = await socketServer(
      root,
      {},
      {
        hosting: [
          { path: usb, mountAt: 'usb', kind: 'prefix' },
          { path: single, mountAt: 'media/base', kind: 'repository' },
        ],
      },
    )
    host = new URL(server.url).host
    const res = await pushImage(get, 'local/app', makeImage('local'), 'v1')
    assert.equal(res.status, 201)
  })

  after(async () => {
    await server?.close()
    if (work) await run('chmod', ['-R', 'u+w', work])
    for (const dir of [work, root]) if (dir) await removeDir(dir)
  })

  it('lists the hosted repositories beside the local ones, with their tags', async () => {
    const catalog = await (await get('/v2/_catalog')).json()
    assert.deepEqual(catalog, {
      repositories: ['local/app', 'media/base', 'usb/app', 'usb/bad', 'usb/team/tools'],
    })
    assert.deepEqual(await (await get('/v2/usb/team/tools/tags/list')).json(), {
      name: 'usb/team/tools',
      tags: ['v2'],
    })
    assert.deepEqual(await (await get('/v2/media/base/tags/list')).json(), {
      name: 'media/base',
      tags: ['latest'],
    })
  })

  it('serves every manifest and blob with the stored bytes', async () => {
    for (const [repo, dir, tag] of [
      ['usb/app', join(usb, 'app'), 'v1'],
      ['usb/team/tools', join(usb, 'team/tools'), 'v2'],
      ['media/base', single, 'latest'],
    ]) {
      const layout = new Layout(dir)
      const manifest = await layout.manifest(tag)
      const res = await get(`/v2/${repo}/manifests/${tag}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('docker-content-digest'), manifest.digest)
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), manifest.bytes)
      for (const d of [manifest.parsed.config, ...manifest.parsed.layers]) {
        const blob = await get(`/v2/${repo}/blobs/${d.digest}`)
        assert.equal(blob.status, 200, `${repo} ${d.digest}`)
        assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), d.digest)
      }
    }
  })

  it('is pullable with skopeo', async () => {
    const out = join(work, 'pulled')
    await skopeoCopy(
      `docker://${host}/usb/team/tools:v2`,
      `oci:${out}:v2`,
      '--src-tls-verify=false',
    )
    await skopeoCopy(
      `docker://${host}/media/base:latest`,
      `oci:${out}:base`,
      '--src-tls-verify=false',
    )
    const pulled = new Layout(out)
    assert.equal(
      (await pulled.descriptor('v2')).digest,
      (await new Layout(join(usb, 'team/tools')).descriptor('v2')).digest,
    )
    assert.equal(
      (await pulled.descriptor('base')).digest,
      (await new Layout(single).descriptor('latest')).digest,
    )
  })

  it('verifies hosted blobs before serving them: a rotten layer is absent, and left in place', async () => {
    const res = await get(`/v2/usb/bad/blobs/${bad.digest}`)
    assert.equal(res.status, 404)
    assert.equal(
      ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0].code,
      'BLOB_UNKNOWN',
    )
    const file = join(usb, 'bad/blobs/sha256', bad.digest.slice('sha256:'.length))
    assert.deepEqual(await readFile(file), bad.bytes)
  })

  it('refuses pushes, deletes and mounts with 403 DENIED naming the hosted directory', async () => {
    const denied = async (res: Response, repo: string, from = usb) => {
      assert.equal(res.status, 403)
      const body = (await res.json()) as { errors: Array<{ code: string; message: string }> }
      assert.equal(body.errors[0].code, 'DENIED')
      assert.equal(body.errors[0].message, `repository ${repo} is hosted read-only from ${from}`)
    }
    const image = makeImage('pushed')
    const layer = image.layers[0]
    await denied(await get(`/v2/usb/app/blobs/uploads/`, { method: 'POST' }), 'usb/app')
    await denied(
      await get(`/v2/usb/new/blobs/uploads/?digest=${sha256(layer)}`, {
        method: 'POST',
        body: layer,
      }),
      'usb/new',
    )
    await denied(
      await get(`/v2/media/base/blobs/uploads/?digest=${sha256(image.config)}`, {
        method: 'POST',
        body: image.config,
      }),
      'media/base',
      single,
    )
    const { digest, parsed } = await new Layout(join(usb, 'app')).manifest('v1')
    const manifest = await new Layout(join(usb, 'app')).blob(digest)
    await denied(
      await get('/v2/usb/app/manifests/v9', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest,
      }),
      'usb/app',
    )
    await denied(await get(`/v2/usb/app/manifests/v1`, { method: 'DELETE' }), 'usb/app')
    await denied(await get(`/v2/usb/app/manifests/${digest}`, { method: 'DELETE' }), 'usb/app')
    const config = parsed.config.digest
    // A blob still referenced is refused before the store is asked (405, as on any store).
    const blobDelete = await get(`/v2/usb/app/blobs/${config}`, { method: 'DELETE' })
    assert.equal(blobDelete.status, 405)
    assert.match(
      ((await blobDelete.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]
        .message,
      /is referenced by manifest/,
    )
    const local = makeImage('local').layers[0]
    await denied(
      await get(`/v2/usb/app/blobs/uploads/?mount=${sha256(local)}&from=local/app`, {
        method: 'POST',
      }),
      'usb/app',
    )
    // Still served after every refusal.
    assert.equal((await get(`/v2/usb/app/manifests/v1`, { method: 'HEAD' })).status, 200)
  })

  it('refuses a skopeo push with the same clear error', async () => {
    await assert.rejects(
      skopeoCopy(
        `oci:${join(usb, 'app')}:v1`,
        `docker://${host}/usb/copy:v1`,
        '--dest-tls-verify=false',
      ),
      /hosted read-only from/,
    )
  })

  it('changed nothing under the hosted directories, even after the server stopped', async () => {
    await server.close()
    assert.deepEqual(await snapshot(usb), usbBefore)
    assert.deepEqual(await snapshot(single), singleBefore)
  })

  it('re-verifies on every start after a clean stop, without calling it unclean', async () => {
    const logged: string[] = []
    const hosted = { path: single, mountAt: 'media/base', kind: 'repository' as const }
    for (let start = 0; start < 2; start++) {
      const store = await openHostedStore(hosted, root, {
        holder: 'test',
        log: (msg) => logged.push(msg),
      })
      assert.equal(store.storage.cleanStart, false, 'the medium may have changed meanwhile')
      await store.close()
    }
    assert.deepEqual(
      logged.filter((m) => /unclean/.test(m)),
      [],
    )
  })
})

describe('a rotten blob in a hosted directory', () => {
  it('is logged as left in place, not as quarantined: nothing was moved', async () => {
    const origin = await tempDir('outpost-hosted-rot-')
    const root = await tempDir('outpost-hosted-rot-root-')
    try {
      const image = makeImage('rotten')
      const reg = await inMemoryRegistry({ root: origin })
      try {
        assert.equal((await pushImage(reg.request, 'app', image, 'v1')).status, 201)
      } finally {
        await reg.close()
      }
      const digest = sha256(image.layers[0])
      const file = join(origin, 'app/blobs/sha256', digest.slice('sha256:'.length))
      const bytes = await readFile(file)
      bytes[0] ^= 0xff
      await writeFile(file, bytes)
      const before = await snapshot(join(origin, 'app'))
      const logged: Array<[string, Record<string, unknown> | undefined]> = []
      const hosted = {
        path: join(origin, 'app'),
        mountAt: 'media/app',
        kind: 'repository' as const,
      }
      const store = await openHostedStore(hosted, root, {
        holder: 'test',
        log: (msg, fields) => logged.push([msg, fields]),
      })
      try {
        const { registry } = store.storage
        assert.equal(await registry.blobs.stat('media/app', Digest.parse(digest)), null)
      } finally {
        await store.close()
      }
      const rot = logged.filter(([msg]) => msg.startsWith('blob does not match its digest'))
      assert.deepEqual(
        rot.map(([msg]) => msg),
        ['blob does not match its digest; left in place, served to no one'],
      )
      assert.equal(rot[0][1]?.hosted, hosted.path)
      assert.match(String(rot[0][1]?.reason), /read-only/)
      assert.ok(!logged.some(([msg]) => /quarantined/.test(msg)), JSON.stringify(logged))
      assert.deepEqual(await snapshot(join(origin, 'app')), before, 'the hosted bytes stay')
    } finally {
      await removeDir(origin)
      await removeDir(root)
    }
  })
})

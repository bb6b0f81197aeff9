// outpost import / export (issue 6, air-gapped sites): round trips with archives skopeo makes
// and archives Outpost makes, in all three formats and with a multi-platform index; skopeo
// reads everything Outpost writes; bad archives are refused and leave nothing in the storage;
// an import while a server holds the storage goes through that server's HTTP API.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { before, describe, it } from 'node:test'
import { runExportCommand } from '../src/cli/export-command.js'
import { runImportCommand } from '../src/cli/import-command.js'
import { createProgress } from '../src/cli/progress.js'
import {
  archiveImage,
  indexOf,
  layoutIndex,
  readTar,
  skopeo,
  writeLayout,
  writeTar,
  type ArchiveImage,
  type Blob,
} from './helpers/archives.js'
import {
  haveCommand,
  layoutFiles,
  listFiles,
  REPO_ROOT,
  scratchDirs,
  sha256,
  socketServer,
} from './helpers/harness.js'

const dir = scratchDirs()
const reason = (await haveCommand('skopeo')) ? false : 'needs skopeo (Debian package skopeo)'

interface Store {
  root: string
  config: string
}

async function store(port = 5999): Promise<Store> {
  const root = await dir('outpost-ie-root-')
  const config = join(await dir('outpost-ie-cfg-'), 'config.json')
  await writeFile(
    config,
    JSON.stringify({ storage: { rootDirectory: root }, http: { address: '127.0.0.1', port } }),
  )
  return { root, config }
}

async function cli(command: 'import' | 'export', args: string[]) {
  const lines: string[] = []
  let progress = ''
  const io = {
    out: (l: string) => lines.push(l),
    progress: { write: (t: string) => (progress += t) },
  }
  const result =
    command === 'import' ? await runImportCommand(args, io) : await runExportCommand(args, io)
  return { lines, progress, result }
}

/** The manifest a repository's tag points at, read from the stored layout. */
async function stored(
  root: string,
  repo: string,
  tag: string,
): Promise<{ digest: string; body: any }> {
  const index = await layoutIndex(join(root, repo))
  const desc = index.manifests.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  )
  assert.ok(desc, `${repo}:${tag} is stored`)
  const bytes = await readFile(join(root, repo, 'blobs', 'sha256', desc.digest.slice(7)))
  assert.equal(sha256(bytes), desc.digest)
  return { digest: desc.digest, body: JSON.parse(bytes.toString()) }
}

/** The bytes of every file under `dir`. */
async function dirBytes(dir: string): Promise<number> {
  let n = 0
  for (const f of await listFiles(dir)) n += (await stat(join(dir, f))).size
  return n
}

/** Every blob of an OCI layout directory hashes to its name; returns the names. */
async function checkedBlobs(layout: string): Promise<string[]> {
  const names = (await readdir(join(layout, 'blobs', 'sha256'))).sort()
  for (const name of names) {
    assert.equal(sha256(await readFile(join(layout, 'blobs', 'sha256', name))), `sha256:${name}`)
  }
  return names
}

describe('import and export', { concurrency: false }, () => {
  let amd: ArchiveImage
  let arm: ArchiveImage
  let index: Blob
  let layout: string // hand-built OCI layout: the multi-platform index "multi", amd64 image "single"
  let work: string

  before(async () => {
    // 1 MiB layer: staged in an upload session rather than held in memory.
    amd = await archiveImage('amd', { gzip: true, bigLayerBytes: 1024 * 1024 })
    arm = await archiveImage('arm', { arch: 'arm64' })
    index = indexOf([amd, arm])
    layout = await dir('outpost-ie-layout-')
    await writeLayout(layout, [
      { top: index, images: [amd, arm], ref: 'multi' },
      { top: amd.manifest, images: [amd], ref: 'single' },
    ])
    work = await dir('outpost-ie-work-')
  })

  it(
    'imports a skopeo oci-archive of a multi-platform index and exports it as skopeo reads it',
    { skip: reason },
    async () => {
      const archive = join(work, 'sk-multi.tar')
      await skopeo(
        'copy',
        '--all',
        '--preserve-digests',
        `oci:${layout}:multi`,
        `oci-archive:${archive}:multi`,
      )
      const s = await store()
      const { lines } = await cli('import', [archive, '--repo', 'multi/app', '--config', s.config])
      assert.match(lines[0], /^imported multi\/app:multi sha256:\w+ \(into storage\)$/)
      assert.equal((await stored(s.root, 'multi/app', 'multi')).digest, index.digest)
      const out = join(work, 'out-multi.tar')
      await cli('export', ['multi/app:multi', '-o', out, '--config', s.config])
      const fresh = join(work, 'fresh-multi')
      await skopeo(
        'copy',
        '--all',
        '--preserve-digests',
        `oci-archive:${out}:multi/app:multi`,
        `oci:${fresh}:m`,
      )
      assert.equal((await layoutIndex(fresh)).manifests[0].digest, index.digest)
      const expected = [
        index,
        amd.manifest,
        amd.config,
        ...amd.layers,
        arm.manifest,
        arm.config,
        ...arm.layers,
      ]
      assert.deepEqual(await checkedBlobs(fresh), expected.map((b) => b.digest.slice(7)).sort())
      assert.match(
        await skopeo('inspect', '--raw', `oci-archive:${out}:multi/app:multi`),
        /image\.index/,
      )
    },
  )

  it(
    'imports a skopeo docker-archive as an OCI image over the same config and layer bytes',
    { skip: reason },
    async () => {
      const archive = join(work, 'sk-docker.tar')
      await skopeo(
        'copy',
        `oci:${layout}:single`,
        `docker-archive:${archive}:docker.io/team/app:v1`,
      )
      const s = await store()
      const { lines, progress } = await cli('import', [archive, '--config', s.config])
      assert.match(lines[0], /^imported team\/app:v1 /)
      // manifest.json comes last (skopeo): the names were learned in a first, metadata-only pass.
      assert.match(progress, /"phase":"scan"/)
      const { body } = await stored(s.root, 'team/app', 'v1')
      const docker = JSON.parse((await readTar(archive)).get('manifest.json')!.toString())[0]
      assert.equal(body.config.digest, `sha256:${docker.Config.replace('.json', '')}`)
      // skopeo wrote the layers uncompressed: their digests are the config's diff_ids.
      const diffIds = JSON.parse(amd.config.bytes.toString()).rootfs.diff_ids
      assert.deepEqual(
        body.layers.map((l: { digest: string }) => l.digest),
        diffIds,
      )
      // Outpost's docker-archive of it is read by skopeo with the same image.
      const out = join(work, 'out-docker.tar')
      await cli('export', [
        'team/app:v1',
        '-o',
        out,
        '--format',
        'docker-archive',
        '--config',
        s.config,
      ])
      const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${out}`))
      assert.deepEqual(inspected.Layers, diffIds)
      // skopeo reads the config Outpost wrote byte for byte (docker load would too).
      const config = await skopeo('inspect', '--config', '--raw', `docker-archive:${out}`)
      assert.equal(sha256(config), body.config.digest)
      const fresh = join(work, 'fresh-docker')
      await skopeo('copy', `docker-archive:${out}`, `oci:${fresh}:d`)
      await checkedBlobs(fresh)
    },
  )

  it(
    'imports a skopeo oci layout directory and exports an oci-dir skopeo copies',
    { skip: reason },
    async () => {
      const skdir = join(work, 'sk-dir')
      await skopeo('copy', '--preserve-digests', `oci:${layout}:single`, `oci:${skdir}:v3`)
      const s = await store()
      await cli('import', [skdir, '--repo', 'dir/app:v9', '--config', s.config])
      assert.equal((await stored(s.root, 'dir/app', 'v9')).digest, amd.manifest.digest)
      const out = join(work, 'out-dir')
      await cli('export', ['dir/app:v9', '-o', out, '--format', 'oci-dir', '--config', s.config])
      const fresh = join(work, 'fresh-dir')
      await skopeo('copy', '--preserve-digests', `oci:${out}:dir/app:v9`, `oci:${fresh}:x`)
      assert.equal((await layoutIndex(fresh)).manifests[0].digest, amd.manifest.digest)
      await checkedBlobs(fresh)
    },
  )

  it('round-trips Outpost archives in all three formats, the index whole, no --repo needed', async () => {
    const s = await store()
    await cli('import', [layout, '--repo', 'site/app', '--config', s.config])
    const outs = { 'oci-archive': join(work, 'rt.tar'), 'oci-dir': join(work, 'rt-dir') }
    for (const [format, out] of Object.entries(outs)) {
      await cli('export', [
        'site/app:multi',
        'site/app:single',
        '-o',
        out,
        '--format',
        format,
        '--config',
        s.config,
      ])
      const t = await store()
      const { lines } = await cli('import', [out, '--config', t.config])
      assert.equal(lines.length, 2, format)
      assert.equal((await stored(t.root, 'site/app', 'multi')).digest, index.digest, format)
      assert.equal((await stored(t.root, 'site/app', 'single')).digest, amd.manifest.digest, format)
    }
    // docker-archive holds one platform: an index needs --platform, and says which exist.
    const docker = join(work, 'rt-docker.tar')
    await assert.rejects(
      cli('export', [
        'site/app:multi',
        '-o',
        docker,
        '--format',
        'docker-archive',
        '--config',
        s.config,
      ]),
      /multi-platform index \(linux\/amd64, linux\/arm64\).*--platform/,
    )
    assert.equal(await readFile(docker).catch(() => null), null, 'nothing written')
    const { lines } = await cli('export', [
      'site/app:multi',
      '-o',
      docker,
      '--format',
      'docker-archive',
      '--platform',
      'linux/arm64',
      '--config',
      s.config,
    ])
    assert.match(lines[0], /platform linux\/arm64/)
    const t = await store()
    await cli('import', [docker, '--config', t.config])
    const { body } = await stored(t.root, 'site/app', 'multi')
    assert.equal(body.config.digest, arm.config.digest)
    assert.deepEqual(
      body.layers.map((l: { digest: string }) => l.digest),
      arm.layers.map((l) => l.digest),
    )
  })

  it('accepts a gzip-compressed archive', async () => {
    const s = await store()
    await cli('import', [layout, '--repo', 'gz/app', '--config', s.config])
    const plain = join(work, 'gz.tar')
    await cli('export', ['gz/app:single', '-o', plain, '--config', s.config])
    await writeFile(`${plain}.gz`, gzipSync(await readFile(plain)))
    const t = await store()
    await cli('import', [`${plain}.gz`, '--repo', 'other/app:v1', '--config', t.config])
    assert.equal((await stored(t.root, 'other/app', 'v1')).digest, amd.manifest.digest)
  })

  describe('bad input is refused and leaves nothing in the storage', () => {
    const refused = async (archive: string, message: RegExp, repo = '--repo=bad/app:v1') => {
      const s = await store()
      await assert.rejects(cli('import', [archive, repo, '--config', s.config]), message)
      assert.deepEqual(await layoutFiles(s.root), [])
    }

    it('a truncated tar', async () => {
      const s = await store()
      await cli('import', [layout, '--repo', 'src/app', '--config', s.config])
      const archive = join(work, 'truncated.tar')
      await cli('export', ['src/app:single', '-o', archive, '--config', s.config])
      // Cut inside the big layer, after the metadata and other blobs went by.
      const big = amd.layers[0].digest.slice(7)
      const entries = [...(await readTar(archive)).keys()]
      assert.ok(entries.includes(`blobs/sha256/${big}`))
      const size = (await readFile(archive)).length
      await truncate(archive, size - 600 * 1024)
      await refused(archive, /truncated/)
      await refused(archive, /truncated/, '--repo=bad/app') // same without a tag
    })

    it('a blob whose bytes do not match the digest its name gives', async () => {
      const wrong = Buffer.alloc(512 * 1024, 7) // big enough to be staged, not kept in memory
      const archive = join(work, 'mismatch.tar')
      await writeTar(archive, [
        { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
        {
          name: 'index.json',
          body: JSON.stringify({
            schemaVersion: 2,
            manifests: [
              {
                mediaType: amd.manifest.mediaType,
                digest: amd.manifest.digest,
                size: amd.manifest.bytes.length,
              },
            ],
          }),
        },
        { name: `blobs/sha256/${amd.manifest.digest.slice(7)}`, body: amd.manifest.bytes },
        { name: `blobs/sha256/${amd.layers[0].digest.slice(7)}`, body: wrong },
      ])
      await refused(archive, /hashes to sha256:\w+, not to the digest its name gives/)
    })

    it('a path-traversal entry name, and a link out of the archive', async () => {
      const archive = join(work, 'traversal.tar')
      await writeTar(archive, [
        { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
        { name: '../../etc/x', body: 'escape' },
      ])
      await refused(archive, /"\.\.\/\.\.\/etc\/x" points outside the archive/)
      const linked = join(work, 'symlink.tar')
      await writeTar(linked, [{ name: 'layer.tar', type: 'symlink', linkname: '../../etc/passwd' }])
      await refused(linked, /points outside the archive/)
    })

    it('a docker-archive layer that does not match its diff_id, and a gzip file that is not', async () => {
      const config = Buffer.from(
        JSON.stringify({
          os: 'linux',
          architecture: 'amd64',
          rootfs: { type: 'layers', diff_ids: [sha256('something else')] },
        }),
      )
      const archive = join(work, 'diffid.tar')
      await writeTar(archive, [
        { name: 'big.tar', body: Buffer.alloc(300 * 1024, 1) },
        { name: 'c.json', body: config },
        {
          name: 'manifest.json',
          body: JSON.stringify([{ Config: 'c.json', RepoTags: ['x/y:1'], Layers: ['big.tar'] }]),
        },
      ])
      await refused(archive, /layer big\.tar does not match its diff_id/)
      const notGzip = join(work, 'bad.tar.gz')
      await writeFile(
        notGzip,
        Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(2000, 3)]),
      )
      await refused(notGzip, /not valid gzip|truncated/)
    })
  })

  it(
    'imports and exports through the server that holds the storage (HTTP push, chunked)',
    { skip: reason },
    async () => {
      // 9 MiB layer: more than one PATCH chunk (8 MiB).
      const big = await archiveImage('big', {
        gzip: false,
        bigLayerBytes: 9 * 1024 * 1024,
        layers: 1,
      })
      const src = await dir('outpost-ie-big-')
      await writeLayout(src, [{ top: big.manifest, images: [big], ref: 'big' }])
      const archive = join(work, 'big.tar')
      await skopeo('copy', '--preserve-digests', `oci:${src}:big`, `oci-archive:${archive}:big`)
      const server = await socketServer()
      try {
        const s = await store(server.port)
        const cfg = JSON.parse(await readFile(s.config, 'utf8'))
        cfg.storage.rootDirectory = server.root
        await writeFile(s.config, JSON.stringify(cfg))
        const { lines } = await cli('import', [
          archive,
          '--repo',
          'net/app:v1',
          '--config',
          s.config,
        ])
        assert.match(lines[0], new RegExp(`into ${server.url.replace(/\/$/, '')}`))
        const res = await fetch(`${server.url}/v2/net/app/manifests/v1`, {
          headers: { Accept: big.manifest.mediaType },
        })
        assert.equal(res.headers.get('docker-content-digest'), big.manifest.digest)
        const layer = await fetch(`${server.url}/v2/net/app/blobs/${big.layers[0].digest}`)
        assert.equal(sha256(Buffer.from(await layer.arrayBuffer())), big.layers[0].digest)
        // A bad archive through the server: refused, and the server's storage keeps nothing of it.
        const before = await layoutFiles(server.root)
        await assert.rejects(
          cli('import', [join(work, 'mismatch.tar'), '--repo', 'net/bad', '--config', s.config]),
          /hashes to/,
        )
        assert.deepEqual(await layoutFiles(server.root), before)
        const out = join(work, 'net-out.tar')
        const exported = await cli('export', ['net/app:v1', '-o', out, '--config', s.config])
        assert.match(exported.lines[0], /from http:/)
        const fresh = join(work, 'net-fresh')
        await skopeo('copy', '--preserve-digests', `oci-archive:${out}`, `oci:${fresh}:x`)
        assert.equal((await layoutIndex(fresh)).manifests[0].digest, big.manifest.digest)
      } finally {
        await server.close()
      }
    },
  )

  it('reports progress as JSON lines off a terminal and as a bar on one', async () => {
    let clock = 0
    let text = ''
    const tty = createProgress(
      { write: (t) => (text += t), isTTY: true, columns: 100 },
      () => clock,
    )
    tty.update('read', 0, 4 * 1024 * 1024)
    clock = 1000
    tty.update('read', 1024 * 1024, 4 * 1024 * 1024)
    tty.end()
    assert.match(text, /read +\[#{5,}-+\] 1\.0 MiB \/ 4\.0 MiB {2}1\.0 MiB\/s {2}ETA 0:03/)
    const s = await store()
    const { progress } = await cli('import', [layout, '--repo', 'p/app', '--config', s.config])
    const lines = progress
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.ok(
      lines.some(
        (l) => l.phase === 'read' && l.final && l.done === l.total && l.total > 1024 * 1024,
      ),
    )
    assert.ok(lines.every((l) => typeof l.rate === 'number' && 'etaSeconds' in l))
  })

  it("reports an export's progress in the bytes it writes: the total is the output's size", async () => {
    const s = await store()
    await cli('import', [layout, '--repo', 'size/app', '--config', s.config])
    const gzipBytes = amd.layers.reduce((n, l) => n + l.bytes.length, 0)
    const formats = ['docker-archive', 'oci-archive', 'oci-dir'] as const
    for (const format of formats) {
      const out = join(work, `progress-${format}`)
      const ref = format === 'docker-archive' ? 'size/app:single' : 'size/app:multi'
      const { progress } = await cli('export', [
        ref,
        '-o',
        out,
        '--format',
        format,
        '--config',
        s.config,
      ])
      const lines = progress
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      const finals = lines.filter((l) => l.final)
      const written = finals.find((l) => l.phase === 'write')
      const size = format === 'oci-dir' ? await dirBytes(out) : (await stat(out)).size
      assert.ok(written, `${format}: ${progress}`)
      // The bytes counted going out are the file's (a tar's headers and padding included), and
      // the total announced at the start is the same number.
      assert.equal(written.done, size, `${format}: ${progress}`)
      assert.equal(written.total, size, `${format}: ${progress}`)
      // A docker-archive of gzip layers first reads them once to learn their unpacked size.
      const measured = finals.find((l) => l.phase === 'measure')
      if (format === 'docker-archive') {
        assert.ok(size > gzipBytes, 'the archive holds the layers uncompressed')
        assert.deepEqual([measured?.done, measured?.total], [gzipBytes, gzipBytes], progress)
      } else assert.equal(measured, undefined, progress)
    }
  })

  it('runs as `outpost import` and `outpost export`: help, and clear failures', async () => {
    const outpost = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args],
        {
          cwd: REPO_ROOT,
          encoding: 'utf8',
        },
      )
    const help = outpost('export', '--help')
    assert.equal(help.status, 0)
    assert.match(help.stdout, /--format FORMAT/)
    const bad = outpost(
      'import',
      join(work, 'traversal.tar'),
      '--repo',
      'x/y',
      '--config',
      join(work, 'missing.json'),
    )
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /invalid configuration .*missing\.json/)
    const s = await store()
    const refused = outpost(
      'import',
      join(work, 'traversal.tar'),
      '--repo',
      'x/y',
      '--config',
      s.config,
    )
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /^outpost: archive entry "\.\.\/\.\.\/etc\/x" points outside/m)
    assert.deepEqual(await layoutFiles(s.root), [])
  })
})

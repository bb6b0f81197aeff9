// docs/architecture.md §5.3, counted: with commit=false nothing calls fsync (neither the fs driver nor
// LMDB); with commit=true the file is synced before its rename and both directories after it,
// before the client gets its 201. The driver is counted in-process with fsyncCount(); a whole
// server is counted at the system-call level with strace.
import assert from 'node:assert/strict'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { after, describe, it } from 'node:test'
import { fsyncCount, FsDriver } from '../src/storage/fs/index.js'
import {
  haveCommand,
  inMemoryRegistry,
  makeImage,
  pushImage,
  removeDir,
  tempDir,
} from './helpers/harness.js'
import { delay, requester, wrappedChildServer } from './helpers/durability.js'

const reason = (await haveCommand('strace')) ? false : 'strace not found (Debian package strace)'

const FSYNC_FAMILY = ['fsync', 'fdatasync', 'sync_file_range', 'msync', 'syncfs', 'sync']
const RENAMES = ['rename', 'renameat', 'renameat2']

interface TracedCall {
  time: number
  name: string
  /** for fsync-like calls, the path of the fd (strace -y); for renames, [from, to] */
  paths: string[]
}

/** Parse `strace -f -y -ttt` output: the line that starts each call (unfinished or not). */
function parseTrace(text: string): TracedCall[] {
  const calls: TracedCall[] = []
  for (const line of text.split('\n')) {
    const m = /^\d+\s+(\d+\.\d+)\s+(\w+)\((.*)$/.exec(line)
    if (!m) continue
    const [, time, name, args] = m
    const paths = RENAMES.includes(name)
      ? [...args.matchAll(/"([^"]*)"/g)].map((q) => q[1])
      : [/^\d+<([^>]*)>/.exec(args)?.[1] ?? '']
    calls.push({ time: Number(time), name, paths })
  }
  return calls
}

interface TracedPush {
  calls: TracedCall[]
  /** all calls from the start of the trace to the server's exit */
  whole: TracedCall[]
  /** when each manifest's 201 reached the client (seconds, like strace -ttt) */
  acks: number[]
  root: string
}

/** Serve `root` under strace, push three images one after another, stop cleanly. */
async function tracedPush(commit: boolean): Promise<TracedPush> {
  const root = await tempDir('outpost-strace-')
  const traceFile = join(await tempDir('outpost-trace-'), 'trace.txt')
  const traced = [...FSYNC_FAMILY, ...RENAMES].join(',')
  const server = await wrappedChildServer(root, { commit }, [
    'strace',
    '-f',
    '-y',
    '-ttt',
    '-e',
    `trace=${traced}`,
    '-o',
    traceFile,
  ])
  try {
    const request = requester(server.url)
    const acks: number[] = []
    const start = Date.now() / 1000
    for (let i = 0; i < 3; i++) {
      // The repository is new for the first push: directories, oci-layout and index.json appear.
      const res = await pushImage(
        request,
        'traced/app',
        makeImage(`traced-${commit}-${i}`, 2),
        `v${i}`,
      )
      assert.equal(res.status, 201)
      acks.push(Date.now() / 1000)
    }
    // Let anything deferred (e.g. LMDB's background flush) run inside the window.
    await delay(300)
    const end = Date.now() / 1000
    assert.equal(await server.kill('SIGTERM'), 0, 'server and strace exit cleanly')
    const whole = parseTrace(await readFile(traceFile, 'utf8'))
    const calls = whole.filter((c) => c.time >= start && c.time <= end)
    assert.ok(
      calls.some((c) => RENAMES.includes(c.name)),
      'the trace saw the pushes (renames in the window)',
    )
    return { calls, whole, acks, root }
  } finally {
    await server.kill('SIGKILL')
    await removeDir(root)
    await removeDir(dirname(traceFile))
  }
}

describe('fsync calls at the system-call level (strace)', () => {
  it(
    'commit=false: a full push makes no fsync-family call, LMDB included',
    { skip: reason },
    async (t) => {
      const { calls, whole } = await tracedPush(false)
      const syncs = calls.filter((c) => FSYNC_FAMILY.includes(c.name))
      assert.deepEqual(syncs, [], 'no fsync-family call while pushing')
      // Startup and the clean stop make none either (invariant 3 has no exceptions).
      const all = whole.filter((c) => FSYNC_FAMILY.includes(c.name))
      t.diagnostic(`fsync-family calls over the whole run: ${all.length}`)
      assert.deepEqual(all, [], 'no fsync-family call from start to clean stop')
    },
  )

  it(
    'commit=true: files are synced before their rename and directories after, before the 201',
    { skip: reason },
    async (t) => {
      const { calls, acks, root } = await tracedPush(true)
      const syncs = calls.filter((c) => FSYNC_FAMILY.includes(c.name))
      t.diagnostic(`fsync-family calls during 3 pushes: ${syncs.length}`)
      assert.ok(syncs.length > 0)
      // LMDB commits are synced too (the index is opened without noSync).
      assert.ok(
        syncs.some((c) => c.paths[0].startsWith(join(root, '_outpost/index/'))),
        'the LMDB environment is synced',
      )
      const synced = (path: string, from: number, to: number) =>
        calls.findIndex(
          (c, i) => i > from && i < to && FSYNC_FAMILY.includes(c.name) && c.paths[0] === path,
        )
      const published = calls
        .map((c, i) => ({ c, i }))
        .filter(
          ({ c }) => RENAMES.includes(c.name) && !c.paths[1].startsWith(join(root, '_outpost/')),
        )
      assert.ok(
        published.length >= 3 * 4,
        'every blob, manifest and index.json was renamed into place',
      )
      for (const { c, i } of published) {
        const [from, to] = c.paths
        assert.ok(synced(from, -1, i) >= 0, `${from} synced before it became ${to}`)
        const dirSync = synced(dirname(to), i, calls.length)
        assert.ok(dirSync >= 0, `${dirname(to)} synced after the rename to ${to}`)
        if (dirname(from) !== dirname(to)) {
          assert.ok(
            synced(dirname(from), i, calls.length) >= 0,
            `${dirname(from)} synced after the rename`,
          )
        }
        // No 201 reached the client while this rename was not yet durable.
        const early = acks.find((ack) => ack > c.time && ack < calls[dirSync].time)
        assert.equal(early, undefined, `a 201 arrived before ${dirname(to)} was synced`)
      }
    },
  )
})

describe('fsync calls through the fs driver (fsyncCount)', () => {
  const dirs: string[] = []
  after(async () => {
    for (const dir of dirs) await removeDir(dir)
  })

  async function driverRoot(): Promise<string> {
    const root = await tempDir('outpost-fsync-')
    dirs.push(root)
    await mkdir(join(root, 'a'))
    await mkdir(join(root, 'b'))
    await mkdir(join(root, '_outpost/tmp'), { recursive: true })
    return root
  }

  /** fsync calls made by `op` */
  async function counted(op: () => Promise<unknown>): Promise<number> {
    const before = fsyncCount()
    await op()
    return fsyncCount() - before
  }

  it('commit=false: no driver operation calls fsync', async () => {
    const driver = new FsDriver({ root: await driverRoot(), commit: false })
    assert.equal(await counted(() => driver.put('a/x', Buffer.from('x'))), 0)
    assert.equal(await counted(() => driver.put('new/deep/dir/x', Buffer.from('x'))), 0)
    assert.equal(await counted(() => driver.write('a/y', Readable.from([Buffer.from('y')]))), 0)
    assert.equal(
      await counted(() => driver.write('a/z', Readable.from([Buffer.from('z')]), { append: true })),
      0,
    )
    assert.equal(await counted(() => driver.move('a/y', 'b/y')), 0)
    assert.equal(await counted(() => driver.link('b/y', 'b/y2')), 0)
    assert.equal(await counted(() => driver.delete('b/y')), 0)
    assert.equal((await driver.get('b/y2')).toString(), 'y')
  })

  it('commit=true: file before rename, then both directories', async () => {
    const driver = new FsDriver({ root: await driverRoot(), commit: true })
    // put: the staged file, the target directory, the staging directory.
    assert.equal(await counted(() => driver.put('a/x', Buffer.from('x'))), 3)
    assert.equal(await counted(() => driver.write('a/y', Readable.from([Buffer.from('y')]))), 3)
    // move a/y -> b/y: the file, then b/ and a/.
    assert.equal(await counted(() => driver.move('a/y', 'b/y')), 3)
    assert.equal(await counted(() => driver.delete('b/y')), 1)
    // New directories: each parent that gained one is synced too (the root for new/, new/ for deep/).
    assert.equal(await counted(() => driver.put('new/deep/x', Buffer.from('x'))), 3 + 2)
    // A new session directory is synced once the session's file exists in it (root, then up/).
    const append = { append: true }
    assert.equal(await counted(() => driver.write('up/.s/1', Readable.from([]), append)), 2)
    // Appends to an upload session are staging, not published: no sync.
    assert.equal(
      await counted(() => driver.write('a/z', Readable.from([Buffer.from('z')]), { append: true })),
      0,
    )
  })

  it('a whole push through the registry syncs only with commit=true', async () => {
    for (const commit of [false, true]) {
      const reg = await inMemoryRegistry({ commit })
      dirs.push(reg.root)
      try {
        const syncs = await counted(async () => {
          const res = await pushImage(
            reg.request,
            'counted/app',
            makeImage(`counted-${commit}`, 2),
            'v1',
          )
          assert.equal(res.status, 201)
        })
        if (commit) assert.ok(syncs >= 3 * 4, `commit=true synced ${syncs} times`)
        else assert.equal(syncs, 0, 'commit=false never calls fsync')
      } finally {
        await reg.close()
      }
    }
  })
})

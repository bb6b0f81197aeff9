// The operator page's cost (issue 18): idle RSS of a server with the page enabled but never
// visited against the same config with it disabled (the page loads lazily: the difference must
// stay under 1 MiB), the RSS after a first visit, and the server CPU one render of a page of 50
// out of 10,000 repositories takes (target: under 50 ms), from the engine index's records.
//   node --import tsx bench/ui.ts   (or npm run bench -- --only operator-page; also in the full run)
// Servers run as `node --import tsx src/cli/main.ts serve` with the Node options bin/outpost
// ships; both variants identically, so the delta is the page's alone.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ImageSummary } from '../src/engine-db/index.js'
import { operatorApp } from '../test/helpers/operator.js'
import { rssBytes } from './process-stats.js'
import { freePort } from './targets.js'

const MIB = 1024 * 1024
const ROUNDS = Number(process.env.BENCH_UI_ROUNDS ?? 3)
const REPOS = 10_000
const RENDERS = 40
const FLAGS = [
  '--max-old-space-size=192',
  '--max-semi-space-size=2',
  '--expose-gc',
  '--v8-pool-size=1',
]

async function serve(
  enabled: boolean,
): Promise<{ child: ChildProcess; url: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-ui-'))
  const port = await freePort()
  const config = {
    storage: { rootDirectory: dir, commit: false },
    http: { address: '127.0.0.1', port },
    log: { level: 'error' },
    extensions: { ui: { enable: enabled } },
  }
  await writeFile(join(dir, '..', `${port}.json`), JSON.stringify(config))
  const main = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts')
  const child = spawn(
    process.execPath,
    [...FLAGS, '--import', 'tsx', main, 'serve', join(dir, '..', `${port}.json`)],
    {
      stdio: 'ignore',
    },
  )
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    if (i > 300) throw new Error('server did not start')
    await sleep(100)
  }
  return {
    child,
    url,
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
      await rm(dir, { recursive: true, force: true })
      await rm(join(dir, '..', `${port}.json`), { force: true })
    },
  }
}

/** RSS once the process has been idle for a while (startup garbage collected, timers settled). */
async function idleRss(child: ChildProcess): Promise<number> {
  await sleep(4000)
  const samples: number[] = []
  for (let i = 0; i < 5; i++) {
    samples.push(rssBytes(child.pid!))
    await sleep(200)
  }
  return median(samples)
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const fmt = (bytes: number) => `${(bytes / MIB).toFixed(2)} MiB`

async function memory(): Promise<void> {
  const deltas: number[] = []
  let visited = 0
  for (let round = 0; round < ROUNDS; round++) {
    const off = await serve(false)
    const offRss = await idleRss(off.child)
    await off.stop()
    const on = await serve(true)
    const onRss = await idleRss(on.child)
    await (await fetch(`${on.url}/`)).arrayBuffer()
    visited = Math.max(visited, (await idleRss(on.child)) - onRss)
    await on.stop()
    deltas.push(onRss - offRss)
    console.log(
      `round ${round + 1}: idle RSS ui off ${fmt(offRss)}, ui on (never visited) ${fmt(onRss)}`,
    )
  }
  const delta = median(deltas)
  console.log(
    `idle RSS delta (median of ${ROUNDS}): ${fmt(delta)} (target < 1 MiB: ${delta < MIB ? 'met' : 'MISSED'})`,
  )
  console.log(`RSS added by a first visit of the page: ${fmt(visited)}`)
}

function fakeImage(repo: number, i: number): ImageSummary {
  const digest = (s: string) =>
    `sha256:${Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64)}`
  const layer = digest(`layer-${i}`)
  return {
    digest: digest(`m-${repo}-${i}`),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    tags: [`1.${i}.0`],
    size: 3_000_000,
    platforms: ['linux/arm64/v8'],
    created: '2026-11-02T08:00:00Z',
    referrers: [],
    origin: 'pushed',
    parts: { [digest(`m-${repo}-${i}`)]: 800, [layer]: 3_000_000 },
  }
}

async function render(): Promise<void> {
  const ui = await operatorApp()
  try {
    const records = ui.storage.registry.summaries.records
    for (let r = 0; r < REPOS; r++) {
      const images = [0, 1, 2].map((i) => fakeImage(r, i))
      void records.put({
        repo: `site-${String(r).padStart(5, '0')}/app`,
        images,
        tagCount: 3,
        size: 9_000_000,
        updatedAt: Date.now(),
      })
    }
    await ui.storage.db.flushed()
    await records.markComplete()
    const time = async (path: string) => {
      await (await ui.request(path)).text() // first: loads src/ui/
      const cpu: number[] = []
      for (let i = 0; i < RENDERS; i++) {
        const last = `site-${String((i * 997) % REPOS).padStart(5, '0')}/app`
        const url = path.includes('?') ? path : `${path}?last=${last}`
        const before = process.cpuUsage()
        const text = await (await ui.request(url)).text()
        const used = process.cpuUsage(before)
        if (text.length < 100) throw new Error(`short answer for ${url}`)
        cpu.push((used.user + used.system) / 1000)
      }
      return { median: median(cpu), max: Math.max(...cpu) }
    }
    for (const [what, path] of [
      ['HTML page of 50 (admin: with storage, background work, health)', '/'],
      ['JSON page of 50', '/v2/_outpost/repositories'],
      ['HTML filtered by a name no repository has (scans all 10,000 names)', '/?q=nomatch'],
    ] as const) {
      const t = await time(path)
      console.log(
        `${what}: median ${t.median.toFixed(1)} ms CPU, max ${t.max.toFixed(1)} ms over ${RENDERS} renders (target < 50 ms: ${t.median < 50 ? 'met' : 'MISSED'})`,
      )
    }
  } finally {
    await ui.close()
  }
}

/** The operator page's figures: render CPU, then idle RSS with the page on and off. */
export async function uiBench(): Promise<void> {
  console.log(`\noperator page, ${REPOS} repositories of 3 images each in the engine index`)
  await render()
  await memory()
}

if (import.meta.url === `file://${process.argv[1]}`) await uiBench()

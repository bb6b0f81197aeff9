// Prometheus metrics (issue 7, "Operations"): the counters move as expected after a push, a pull,
// a GC pass and a scrub; labels stay bounded; the endpoint follows extensions.metrics.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import { createApp } from '../src/http/index.js'
import { silentLogger } from '../src/log/logger.js'
import { OutpostMetrics } from '../src/metrics/index.js'
import {
  inMemoryRegistry,
  makeImage,
  pushImage,
  sha256,
  socketServer,
  type RunningServer,
} from './helpers/harness.js'
import { parseMetrics, sample } from './helpers/ops.js'

describe('metrics', () => {
  let server: RunningServer & { root: string }
  const scrape = async (path = '/metrics') => {
    const res = await fetch(`${server.url}${path}`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type')!, /text\/plain/)
    return parseMetrics(await res.text())
  }
  const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)

  before(async () => {
    // GC off the schedule (passes are run by the test) and collecting anything unreferenced.
    server = await socketServer(
      undefined,
      { gc: { enabled: false, delayMs: 0, intervalMs: 0 } },
      { scrub: { enabled: true, intervalMs: 86_400_000 } },
    )
  })
  after(() => server.close())

  it('counts a push, a pull, a GC pass and a scrub', async () => {
    const image = makeImage('metrics', 2)
    const before = await scrape()
    assert.equal((await pushImage(request, 'demo/app', image, 'v1')).status, 201)
    const pushed = await scrape()
    const moved = (key: string) => sample(pushed, key) - sample(before, key)
    assert.equal(moved('outpost_http_requests_total{method="POST",code="201"}'), 3)
    assert.equal(moved('outpost_http_requests_total{method="PUT",code="201"}'), 1)
    assert.equal(sample(pushed, 'outpost_repo_uploads_total{repo="demo/app"}'), 1)
    const blobBytes = [image.config, ...image.layers].reduce((n, b) => n + b.length, 0)
    assert.equal(
      sample(pushed, 'outpost_repo_upload_bytes_total{repo="demo/app"}'),
      blobBytes + image.manifest.length,
    )
    const manifestRoute = 'route="/v2/<name>/manifests/<reference>"'
    assert.equal(
      sample(pushed, `outpost_http_request_duration_seconds_count{method="PUT",${manifestRoute}}`),
      1,
    )

    // A pull: the manifest, then every blob.
    assert.equal((await request('/v2/demo/app/manifests/v1')).status, 200)
    for (const b of [image.config, ...image.layers]) {
      const res = await request(`/v2/demo/app/blobs/${sha256(b)}`)
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), b)
    }
    // A download is counted when the server has finished its response, which may be a moment
    // after the client holds the last byte: give the counter that moment.
    const downloaded = blobBytes + image.manifest.length
    let pulled = await scrape()
    for (let i = 0; i < 40; i++) {
      if (sample(pulled, 'outpost_repo_download_bytes_total{repo="demo/app"}') >= downloaded) break
      await new Promise((r) => setTimeout(r, 25))
      pulled = await scrape()
    }
    assert.equal(sample(pulled, 'outpost_repo_downloads_total{repo="demo/app"}'), 1)
    assert.equal(
      sample(pulled, 'outpost_repo_download_bytes_total{repo="demo/app"}'),
      blobBytes + image.manifest.length,
    )
    // Latency is labelled by template: no raw repository path or digest leaks into a label.
    const labels = [...pulled.keys()].filter((k) => k.startsWith('outpost_http_request_duration'))
    assert.ok(labels.some((k) => k.includes('route="/v2/<name>/blobs/<digest>"')))
    assert.ok(!labels.some((k) => k.includes('demo/app') || k.includes('sha256:')))

    // GC: an orphaned blob (no manifest refers to it) is collected by one pass.
    const orphan = Buffer.from('nobody refers to me')
    await request(`/v2/demo/app/blobs/uploads/?digest=${sha256(orphan)}`, {
      method: 'POST',
      body: orphan,
    })
    await server.upkeep.collector.runPass()
    const collected = await scrape()
    assert.equal(sample(collected, 'outpost_gc_runs_total{store="default"}'), 1)
    assert.equal(sample(collected, 'outpost_gc_deleted_blobs_total{store="default"}'), 1)
    assert.equal(sample(collected, 'outpost_gc_freed_bytes_total{store="default"}'), orphan.length)
    assert.ok(collected.has('outpost_gc_last_duration_seconds{store="default"}'))

    // Scrub: one layer rotted on disk is found.
    const layer = image.layers[0]
    await writeFile(join(server.root, 'demo/app/blobs/sha256', sha256(layer).slice(7)), 'rot')
    await server.upkeep.scrubber!.runPass(() => false)
    const scrubbed = await scrape()
    assert.equal(sample(scrubbed, 'outpost_scrub_runs_total{store="default"}'), 1)
    assert.equal(sample(scrubbed, 'outpost_scrub_affected_total{store="default"}'), 1)
    assert.ok(sample(scrubbed, 'outpost_scrub_bytes_hashed_total{store="default"}') > 0)
  })

  it('exports storage, budget, process and nodejs figures', async () => {
    const m = await scrape()
    assert.ok(sample(m, 'outpost_storage_used_bytes{store="default"}') > 0)
    assert.ok(sample(m, 'outpost_storage_available_bytes{store="default"}') > 0)
    for (const reason of ['cpu', 'memory', 'window', 'io'])
      assert.ok(m.has(`outpost_budget_throttles_total{reason="${reason}"}`), reason)
    assert.ok(m.has('outpost_budget_io_wait_seconds_total'))
    assert.ok(sample(m, 'process_resident_memory_bytes') > 0)
    assert.ok([...m.keys()].some((k) => k.startsWith('nodejs_heap_size_used_bytes')))
  })

  it('folds repositories past the label cap into "other"', () => {
    const metrics = new OutpostMetrics({ maxRepositories: 2, defaults: false })
    for (const repo of ['a', 'b', 'c', 'd', 'a']) metrics.observeDownload(repo, 10, true)
    return metrics.text().then((text) => {
      const m = parseMetrics(text)
      assert.equal(sample(m, 'outpost_repo_downloads_total{repo="a"}'), 2)
      assert.equal(sample(m, 'outpost_repo_downloads_total{repo="b"}'), 1)
      assert.equal(sample(m, 'outpost_repo_downloads_total{repo="other"}'), 2)
      assert.ok(!m.has('outpost_repo_downloads_total{repo="c"}'))
    })
  })

  it('follows extensions.metrics: path, enable, and the authorize hook', async () => {
    const config = parseConfig(
      '{"storage":{"rootDirectory":"/tmp"},"extensions":{"metrics":{"enable":true,"prometheus":{"path":"/prom"}}}}',
    )
    assert.deepEqual(config.metrics, { enabled: true, path: '/prom' })
    assert.deepEqual(parseConfig('{"storage":{"rootDirectory":"/tmp"}}').metrics, {
      enabled: true,
      path: '/metrics',
    })
    assert.throws(
      () =>
        parseConfig(
          '{"storage":{"rootDirectory":"/tmp"},"extensions":{"metrics":{"prometheus":{"path":"/v2/m"}}}}',
        ),
      /extensions\.metrics\.prometheus\.path/,
    )
    const off = await socketServer(undefined, {}, { metrics: { enabled: false, path: '/metrics' } })
    try {
      assert.equal((await fetch(`${off.url}/metrics`)).status, 404)
    } finally {
      await off.close()
    }
    const reg = await inMemoryRegistry()
    try {
      let allow = false
      const app = createApp({
        registry: reg.storage.registry,
        logger: silentLogger,
        metrics: {
          metrics: new OutpostMetrics({ defaults: false }),
          path: '/prom',
          authorize: (c) => (allow ? undefined : c.text('no', 401)),
        },
      })
      assert.equal((await app.request('/prom')).status, 401)
      allow = true
      const res = await app.request('/prom')
      assert.equal(res.status, 200)
      assert.match(await res.text(), /outpost_http_requests_total\{method="GET",code="401"\} 1/)
    } finally {
      await reg.close()
    }
  })
})

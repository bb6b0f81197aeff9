// The S3 figures for `npm run bench` (issue 5): a 1 GiB blob pushed (monolithic and chunked) and
// pulled through Outpost with its blobs on S3 — s3rver on this machine standing in for the bucket —
// with the server's idle and peak RSS (target: peak within 64 MiB of idle: multipart parts of
// `chunksize` with a small queue, never the blob).
import { s3rverDriverConfig, startS3rver } from '../test/helpers/s3.js'
import { RegistryClient } from './client.js'
import { rssBytes, settle, watch } from './process-stats.js'
import { startOutpost } from './targets.js'
import { pull, pushChunked, pushMonolithic, type Bench, type Plan } from './workloads.js'

const MIB = 1024 * 1024

export async function s3Bench(repoRoot: string, plan: Plan): Promise<void> {
  console.log('\nS3 backend (Outpost against s3rver on this machine)')
  const s3 = await startS3rver({ bucket: 'outpost-bench' })
  try {
    const target = await startOutpost(repoRoot, {
      dedupe: false,
      storageDriver: s3rverDriverConfig(s3, { rootdirectory: 'bench', chunksize: 5 * MIB }),
    })
    const client = new RegistryClient(target.url, 4)
    try {
      const bench: Bench = { client, plan, attempt: 0, pushed: [] }
      await settle()
      const idle = rssBytes(target.pid)
      for (const [name, run] of [
        ['push 1 GiB monolithic', pushMonolithic],
        ['push 1 GiB chunked', pushChunked],
        ['pull 1 GiB', pull],
      ] as const) {
        await settle()
        const stop = watch(target.pid)
        const outcome = await run(bench)
        const usage = stop()
        const over = (usage.peakRssBytes - idle) / MIB
        const label = name.replace('1 GiB', `${plan.sizeMiB} MiB`)
        console.log(
          `  ${label.padEnd(24)} ${outcome.value.toFixed(1).padStart(7)} ${outcome.unit}   ` +
            `peak RSS ${(usage.peakRssBytes / MIB).toFixed(1)} MiB (+${over.toFixed(1)} over idle ` +
            `${(idle / MIB).toFixed(1)} MiB: ${over <= 64 ? 'PASS' : 'MISS'} against 64 MiB)`,
        )
      }
    } finally {
      client.close()
      await target.stop()
    }
  } finally {
    await s3.stop()
  }
}

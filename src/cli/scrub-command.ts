// `outpost scrub <config.json> [--json]`: one scrub pass over the storage (every store: the
// default one and each subpath), offline and flat out
// (an operator asked for it now). It takes the storage lock, so it refuses while a server holds
// the storage; the server scrubs on its own schedule (extensions.scrub) within its budget.
import { unlimitedBudget } from '../budget/index.js'
import type { OutpostConfig } from '../config/index.js'
import type { RepoScrubResult } from '../scrub/index.js'
import { Scrubber, type ScrubReport } from '../scrub/index.js'
import { storeLabel } from '../server/stores.js'
import { withStorage } from './offline.js'

interface Row {
  repository: string
  tag: string
  status: 'ok' | 'affected'
  blob: string
  error: string
}

export async function runScrubCommand(
  config: OutpostConfig,
  json: boolean,
  out: (text: string) => void,
): Promise<ScrubReport> {
  const rows: Row[] = []
  const collect = (result: RepoScrubResult) => {
    for (const image of result.checked) {
      // By tag too: one manifest under two tags is two images, each with its own findings.
      const problems = result.affected.filter(
        (a) => a.manifest === image.manifest && a.tag === image.tag,
      )
      const status = image.ok ? 'ok' : 'affected'
      if (problems.length === 0) rows.push(row(result.repo, image.tag, status, '', ''))
      for (const p of problems)
        rows.push(row(result.repo, image.tag, status, p.blob ?? '', p.error))
    }
    for (const p of result.affected.filter((a) => a.manifest === undefined)) {
      rows.push(row(result.repo, undefined, 'affected', p.blob ?? '', p.error))
    }
  }
  const reports = await withStorage(
    config,
    'scrub',
    () => {},
    async (store) => {
      const scrubber = new Scrubber({
        registry: store.storage.registry,
        db: store.storage.db,
        budget: unlimitedBudget(),
        log: () => {},
      })
      return { store: storeLabel(store), report: await scrubber.runPass(undefined, collect) }
    },
  )
  // One table over all stores (repository names tell them apart); JSON adds each store's own.
  const report = reports.map((r) => r.report).reduce(add)
  const perStore = reports.length > 1 && {
    stores: Object.fromEntries(reports.map((r) => [r.store, r.report])),
  }
  out(
    json ? JSON.stringify({ ...report, listing: rows, ...perStore }, null, 2) : table(rows, report),
  )
  return report
}

function add(a: ScrubReport, b: ScrubReport): ScrubReport {
  return {
    startedAt: a.startedAt,
    endedAt: b.endedAt,
    complete: a.complete && b.complete,
    repositories: a.repositories + b.repositories,
    images: a.images + b.images,
    ok: a.ok + b.ok,
    affectedCount: a.affectedCount + b.affectedCount,
    bytesHashed: a.bytesHashed + b.bytesHashed,
    affected: [...a.affected, ...b.affected],
  }
}

function row(
  repository: string,
  tag: string | undefined,
  status: Row['status'],
  blob: string,
  error: string,
): Row {
  return { repository, tag: tag ?? '-', status, blob: blob || '-', error: error || '-' }
}

function table(rows: Row[], report: ScrubReport): string {
  const header = ['REPOSITORY', 'TAG', 'STATUS', 'AFFECTED-BLOB', 'ERROR']
  const cells = rows.map((r) => [r.repository, r.tag, r.status, r.blob, r.error])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c: string[]) =>
    c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]))).join('  ')
  const summary =
    `${report.images} images in ${report.repositories} repositories, ${report.ok} ok, ` +
    `${report.affectedCount} problems, ${report.bytesHashed} bytes hashed`
  return [line(header), ...cells.map(line), '', summary].join('\n')
}

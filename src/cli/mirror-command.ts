// `outpost mirror <config.json> [--once] [--dry-run]`: one pass of the periodic mirror over every
// registry with a pollInterval, now, in the foreground: the way to seed a board on a bench before
// it ships (issue 15). It owns the storage like gc, so it refuses while a server holds it (the
// server runs the mirror on its own schedule). --dry-run lists what would be fetched and its
// size through a read-only view (no lock, nothing written), so it also runs beside a server.
// On a terminal a progress bar (stderr) and one line per image; otherwise JSON lines on stdout.
// maxBandwidth caps it as it caps the server's passes; the window does not hold it back: asked
// to run now, it runs now.
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type OutpostConfig } from '../config/index.js'
import { MirrorPacer } from '../upstream/mirror/pacing.js'
import type { PassEvent, PassReport } from '../upstream/mirror/types.js'
import { RegistryRouter } from '../registry/index.js'
import { buildMirror, periodicRegistries } from '../server/mirror-wiring.js'
import { viewStore, type StoreView } from '../server/store-view.js'
import { openStores, storeConfigs } from '../server/stores.js'
import { MIRROR_HELP } from './help.js'
import { offlineFailure, OfflineError, UsageError } from './offline.js'
import { createProgress, formatBytes, type ProgressOutput } from './progress.js'

export interface MirrorIo {
  out: (line: string) => void
  /** human lines and a bar when it is a terminal; JSON lines otherwise */
  tty: boolean
  progress: ProgressOutput
}

/** Runs the passes; resolves with their reports (throws on a usage or storage problem). */
export async function runMirrorCommand(
  config: OutpostConfig,
  dryRun: boolean,
  io: MirrorIo,
): Promise<PassReport[]> {
  if (periodicRegistries(config).length === 0)
    throw new OfflineError(
      'no registry in extensions.sync has a pollInterval: there is nothing to mirror ' +
        '(on-demand registries are fetched as clients pull)',
    )
  const log = () => {}
  const storage = dryRun
    ? await openViews(config)
    : await openStores(config, { holder: 'mirror', log })
  const sync = config.sync!
  // The foreground pass is asked for now: no window, no CPU or memory pause; the cap holds.
  const pacer = new MirrorPacer({
    ...(sync.maxBandwidth !== undefined && { maxBandwidth: sync.maxBandwidth }),
    cpuPercent: 100,
    minFreeMemory: 0,
    sampler: { sample: async () => ({ othersCpuPercent: 0, availableMemory: Infinity }) },
  })
  let built: Awaited<ReturnType<typeof buildMirror>>
  try {
    built = await buildMirror(config, { router: storage.router, pacer, log })
    const reports = await built!.mirror.runOnce({ dryRun, progress: reporter(io, dryRun) })
    for (const report of reports) summary(io, report, dryRun)
    return reports
  } finally {
    built?.close()
    await storage.close()
  }
}

/** Read-only views of every store behind one router, for a dry run. */
async function openViews(
  config: OutpostConfig,
): Promise<{ router: RegistryRouter; close(): Promise<void> }> {
  const views: Array<{ route?: string; view: StoreView }> = []
  const close = async () => {
    for (const { view } of views.reverse()) await view.close()
  }
  try {
    for (const { route, config: store } of storeConfigs(config))
      views.push({ route, view: await viewStore(store) })
  } catch (err) {
    await close()
    throw err
  }
  const router = new RegistryRouter(
    views[0].view.registry,
    Object.fromEntries(views.slice(1).map((v) => [v.route!, v.view.registry])),
  )
  return { router, close }
}

function reporter(io: MirrorIo, dryRun: boolean): (e: PassEvent) => void {
  const progress = createProgress(io.progress)
  let image: { name: string; total: number; done: number } | undefined
  return (e) => {
    if (!io.tty) {
      // One line per image, none per chunk: a log stays readable.
      if (e.kind !== 'bytes') io.out(JSON.stringify(e))
      return
    }
    switch (e.kind) {
      case 'image-start':
        if (dryRun) break // nothing is fetched: a line per image, no bar
        image = { name: `${e.repo}:${e.reference}`, total: e.bytes ?? 0, done: 0 }
        progress.update(image.name, 0, image.total)
        break
      case 'bytes':
        if (!image) break
        image.done += e.n
        progress.update(image.name, image.done, Math.max(image.total, image.done))
        break
      case 'image-done':
        progress.end()
        image = undefined
        io.out(`copied ${e.repo}:${e.reference} ${e.digest} (${formatBytes(e.fetchedBytes)})`)
        break
      case 'image-failed':
        progress.end()
        image = undefined
        io.out(`FAILED ${e.repo}:${e.reference}: ${e.error}`)
        break
      case 'image-skipped':
        progress.end()
        image = undefined
        io.out(`skipped ${e.repo}:${e.reference} ${e.digest}: ${e.reason}`)
        break
      case 'would-fetch':
        io.out(`would fetch ${e.repo}:${e.reference} ${e.digest} (${formatBytes(e.bytes)})`)
        break
    }
  }
}

function summary(io: MirrorIo, report: PassReport, dryRun: boolean): void {
  if (!io.tty) return io.out(JSON.stringify({ kind: 'pass', dryRun, ...report }))
  const seconds = ((report.endedAt - report.startedAt) / 1000).toFixed(1)
  const planned = report.planned ?? []
  const line = dryRun
    ? `${report.upstream}: dry run: would fetch ${planned.length} images, ` +
      `${formatBytes(planned.reduce((n, p) => n + p.bytes, 0))}; ${report.images.upToDate} up to date`
    : `${report.upstream}: ${report.images.copied} copied, ${report.images.upToDate} up to date, ` +
      `${report.images.failed} failed, ${report.images.skipped} skipped, ${formatBytes(report.bytes)} in ${seconds} s`
  io.out(line)
  if (report.stoppedBy)
    io.out(`${report.upstream}: stopped (${report.stoppedBy}): ${report.reason ?? ''}`)
}

/** `outpost mirror …` from main.ts. */
export async function mirrorCommand(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(MIRROR_HELP)
  const fail = (message: string, code: number): never => {
    process.stderr.write(`outpost: ${message}\n`)
    process.exit(code)
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { once: { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
      allowPositionals: true,
    })
    if (positionals.length !== 1) throw new UsageError('mirror takes one config file')
    const config = await loadConfig(positionals[0])
    const tty = process.stdout.isTTY === true
    const reports = await runMirrorCommand(config, values['dry-run'] ?? false, {
      out: (line) => process.stdout.write(`${line}\n`),
      tty,
      progress: process.stderr,
    })
    // Exit 1 when an image failed or a pass stopped short, so a bench script notices.
    if (reports.some((r) => r.images.failed > 0 || r.stoppedBy)) process.exitCode = 1
  } catch (err) {
    if (
      err instanceof TypeError &&
      (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')
    )
      fail(`${err.message}\n\n${MIRROR_HELP}`, 2)
    if (err instanceof ConfigError) fail(`invalid configuration ${err.message}`, 2)
    const failure = offlineFailure(err, 'mirror', MIRROR_HELP)
    if (failure) fail(...failure)
    throw err
  }
}

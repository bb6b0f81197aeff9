// Progress of a long import or export on stderr: on a terminal, one bar redrawn in place (bytes,
// rate, ETA); otherwise one JSON object per line (journald- and script-friendly), at most one a
// second per phase plus each phase's first and last, so a log is not flooded.
export interface ProgressOutput {
  write(text: string): unknown
  isTTY?: boolean
  columns?: number
}

export interface Progress {
  /** `unit`: "bytes" for data read or written, "items" for steps such as blobs published */
  update(phase: string, done: number, total: number, unit?: 'bytes' | 'items'): void
  /** the last line of the current phase */
  end(): void
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function formatBytes(n: number): string {
  let value = n
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${UNITS[unit]}`
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--:--'
  const total = Math.round(s)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const sec = String(total % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`
}

export function createProgress(out: ProgressOutput, now: () => number = Date.now): Progress {
  let phase: string | undefined
  let started = 0
  let last = { done: 0, total: 0, unit: 'bytes' as 'bytes' | 'items' }
  let shown = 0
  let pending = false

  const stats = () => {
    const seconds = Math.max((now() - started) / 1000, 0.001)
    const rate = last.done / seconds
    const eta = rate > 0 ? (last.total - last.done) / rate : Infinity
    return { seconds, rate, eta }
  }

  const render = (final: boolean) => {
    shown = now()
    pending = false
    const { seconds, rate, eta } = stats()
    if (!out.isTTY) {
      const line: Record<string, unknown> = {
        phase,
        done: last.done,
        total: last.total,
        unit: last.unit,
        rate: Math.round(rate),
        etaSeconds: final ? 0 : Number.isFinite(eta) ? Math.round(eta) : null,
        elapsedSeconds: Math.round(seconds * 10) / 10,
      }
      if (final) line.final = true
      out.write(`${JSON.stringify(line)}\n`)
      return
    }
    const fraction = last.total > 0 ? Math.min(last.done / last.total, 1) : final ? 1 : 0
    const amount = (n: number) => (last.unit === 'bytes' ? formatBytes(n) : String(n))
    const text =
      `${amount(last.done)} / ${amount(last.total)}  ` +
      `${last.unit === 'bytes' ? `${formatBytes(rate)}/s` : `${rate.toFixed(1)}/s`}  ` +
      (final ? `${formatSeconds(seconds)}` : `ETA ${formatSeconds(eta)}`)
    const label = `${phase} `.padEnd(8)
    const width = Math.max(10, Math.min(40, (out.columns ?? 80) - label.length - text.length - 4))
    const filled = Math.round(fraction * width)
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`
    out.write(`\r\x1b[2K${label}${bar} ${text}${final ? '\n' : ''}`)
  }

  return {
    update(next, done, total, unit = 'bytes') {
      if (next !== phase) {
        if (phase !== undefined) render(true)
        phase = next
        started = now()
        last = { done, total, unit }
        render(false)
        return
      }
      last = { done, total, unit }
      pending = true
      const interval = out.isTTY ? 100 : 1000
      if (now() - shown >= interval) render(false)
    },
    end() {
      if (phase !== undefined && (pending || last.done >= 0)) render(true)
      phase = undefined
    },
  }
}

// One JSON object per line on stdout (journald-friendly), in the manner of pino: no transports,
// no formatting in library code. Library modules receive a Logger; only the CLI decides where it
// writes.
// Under systemd (journald sets $JOURNAL_STREAM on a service's stdout) each line starts with the
// sd-daemon(3) "<N>" priority prefix, which journald strips and records as the entry's priority:
// `journalctl -p warning` then shows the warnings and errors only.
// Gentle on an SD card: identical warnings in a burst are written once plus a count
// (repeats.ts), and audit lines go to their own file when one is configured (zot's log.audit).
import { RepeatFilter, REPEAT_WINDOW_MS, systemLogClock, type LogClock } from './repeats.js'
// Every line's message and fields go through maskSecrets (src/log/secrets.ts) first: whatever a
// caller passes (a configuration, an SDK error, an upstream URL), no secret is written.
import { maskSecrets, maskText } from './secrets.js'

export type Level = 'debug' | 'info' | 'warn' | 'error'

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/** syslog(3) priorities: LOG_DEBUG 7, LOG_INFO 6, LOG_WARNING 4, LOG_ERR 3 */
export const SYSLOG_PRIORITY: Record<Level, number> = { debug: 7, info: 6, warn: 4, error: 3 }

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** whether lines of this level are written, so callers can skip the work of building them */
  enabled(level: Level): boolean
  /**
   * an audit line ("msg":"audit", level info): to the audit file whatever the level when there
   * is one (LoggerOptions.audit), else like any info line
   */
  audit(fields: Record<string, unknown>): void
}

export interface LoggerOptions {
  level?: Level
  write?: (line: string) => void
  /** prefix each line with its syslog priority; by default when $JOURNAL_STREAM is set */
  journal?: boolean
  /** where audit lines go, whatever the level (zot's log.audit file); absent: `write` */
  audit?: (line: string) => void
  /** time source of the repeated-warning window (tests) */
  clock?: LogClock
  /** identical warnings this long after the first are counted, not written (default 10 s) */
  repeatWindowMs?: number
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? 'info']
  const write = options.write ?? ((line: string) => process.stdout.write(line))
  const journal = options.journal ?? Boolean(process.env.JOURNAL_STREAM)
  const clock = options.clock ?? systemLogClock
  const json = (level: Level, msg: string, fields?: Record<string, unknown>) =>
    JSON.stringify({
      time: new Date(clock.now()).toISOString(),
      level,
      msg: maskText(msg),
      ...maskSecrets(fields),
    })
  const line = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    write(`${journal ? `<${SYSLOG_PRIORITY[level]}>` : ''}${json(level, msg, fields)}\n`)
  }
  const repeats = new RepeatFilter(
    clock,
    options.repeatWindowMs ?? REPEAT_WINDOW_MS,
    (msg, fields, suppressed) => line('warn', msg, { ...fields, suppressed }),
  )
  const log = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < threshold) return
    if (level === 'warn' && !repeats.admit(msg, fields)) return
    line(level, msg, fields)
  }
  const audit = options.audit
  return {
    log,
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    enabled: (level) => RANK[level] >= threshold,
    audit: audit
      ? (fields) => audit(`${json('info', 'audit', fields)}\n`)
      : (fields) => log('info', 'audit', fields),
  }
}

/** The user an audit line names: the authenticated one on the request, else "anonymous". */
export function auditUser(user: unknown): string {
  if (typeof user === 'string' && user) return user
  const name = (user as { name?: unknown } | null | undefined)?.name
  return typeof name === 'string' && name ? name : 'anonymous'
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ write: () => {}, journal: false })

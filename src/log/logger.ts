// One JSON object per line on stdout (journald-friendly), in the manner of pino: no transports,
// no formatting in library code. Library modules receive a Logger; only the CLI decides where it
// writes.
export type Level = 'debug' | 'info' | 'warn' | 'error'

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** whether lines of this level are written, so callers can skip the work of building them */
  enabled(level: Level): boolean
}

export interface LoggerOptions {
  level?: Level
  write?: (line: string) => void
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? 'info']
  const write = options.write ?? ((line: string) => process.stdout.write(line))
  const log = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < threshold) return
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n')
  }
  return {
    log,
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    enabled: (level) => RANK[level] >= threshold,
  }
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ write: () => {} })

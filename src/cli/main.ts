#!/usr/bin/env node
// The outpost command: serve | verify | gc | scrub | sync | mirror | import | export | version. Output formatting lives here, not in the
// library modules.
import { readFileSync } from 'node:fs'
import { ConfigError, defaultConfig, loadConfig, type OutpostConfig } from '../config/index.js'
import { openAuditFile, type AuditFile } from '../log/audit-file.js'
import { createLogger, type Logger } from '../log/logger.js'
import { quietSdkNodeNotice } from '../log/sdk-notice.js'
import { maskKnown, maskText, secretValues } from '../log/secrets.js'
import { StorageBusyError } from '../server/storage-owner.js'
import { RootMissingError, startServer, type RunningServer } from '../server/server.js'
import { runGcCommand } from './gc-command.js'
import { offlineArgs, offlineFailure, UsageError } from './offline.js'
import { serveArgs } from './serve-args.js'
import { GC_HELP, MAIN_HELP, SCRUB_HELP, SERVE_HELP, VERIFY_HELP } from './help.js'
import { runScrubCommand } from './scrub-command.js'
import { startFailure } from './start-failure.js'
import { verify } from './verify-command.js'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  return String(pkg.version)
}

/** The secret values of the configuration in use, masked in whatever fail() prints. */
let secrets = new Set<string>()

function fail(message: string, code = 2): never {
  process.stderr.write(`outpost: ${maskKnown(message, secrets)}\n`)
  process.exit(code)
}

async function serveCommand(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(SERVE_HELP)
  let config: OutpostConfig
  let file: string | undefined
  try {
    const parsed = serveArgs(args)
    file = parsed.configFile
    config = file ? await loadConfig(file) : defaultConfig(process.cwd(), parsed.overrides)
  } catch (err) {
    if (err instanceof UsageError) fail(`${err.message}\n\n${SERVE_HELP}`)
    if (err instanceof ConfigError) fail(`invalid configuration ${err.message}`)
    throw err
  }
  secrets = secretValues(config)
  const logger = serveLogger(config)
  // The handlers go in before the server starts: a signal that lands between the "listening" line
  // and their installation would otherwise kill the process by default, skipping the clean stop.
  let server: RunningServer | undefined
  let requested: string | undefined
  const stop = (signal: string) => {
    requested = signal
    if (!server) return // still starting: stop as soon as it is up
    logger.info('shutting down', { signal })
    server.close().then(
      () => process.exit(0),
      (err) => {
        logger.error('unclean shutdown', { error: String(err) })
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
  // SIGHUP: re-read the file and apply what can change while serving (src/server/reload.ts);
  // a file that no longer validates changes nothing.
  process.on('SIGHUP', () => {
    if (!server || requested) return
    const running = server
    if (!file) return logger.warn('SIGHUP ignored: serving the default configuration')
    logger.info('reloading configuration', { file })
    loadConfig(file)
      .then((next) => running.reload(next))
      .catch((err) =>
        logger.error('reload failed: kept the running configuration', {
          error: err instanceof ConfigError ? err.message : String(err),
        }),
      )
  })
  try {
    server = await startServer(config, logger)
  } catch (err) {
    if (err instanceof RootMissingError || err instanceof StorageBusyError) fail(err.message, 1)
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      fail(`${config.http.address}:${config.http.port} is already in use`, 1)
    }
    const message = startFailure(err, config)
    if (message) fail(message, 1)
    throw err
  }
  if (requested) stop(requested)
}

/** The server's logger: JSON lines on stdout, audit lines to log.audit when it is set. */
function serveLogger(config: OutpostConfig): Logger {
  const stdout = (line: string) => void process.stdout.write(line)
  let file: AuditFile | undefined
  const logger = createLogger({
    level: config.log.level,
    audit: config.log.audit ? (line) => file!.write(line) : undefined,
  })
  if (config.log.audit) {
    const path = config.log.audit
    try {
      file = openAuditFile(path, stdout, (err) =>
        logger.error('cannot write the audit log: audit lines go to stdout meanwhile', {
          path,
          error: String(err),
        }),
      )
    } catch (err) {
      fail(`cannot open log.audit ${path}: ${(err as Error).message}`, 1)
    }
  }
  return logger
}

async function verifyCommand(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(VERIFY_HELP)
  try {
    const result = await verify(args)
    process.stderr.write(maskText(result.err))
    process.stdout.write(maskText(result.out))
    process.exitCode = result.code
  } catch (err) {
    if (err instanceof UsageError) fail(`${err.message}\n\n${VERIFY_HELP}`)
    if (err instanceof ConfigError) fail(`invalid configuration ${err.message}`)
    throw err
  }
}

/** gc and scrub: `[config.json] [flag]`, one pass over the storage, a clear failure otherwise. */
async function offlineCommand(
  args: string[],
  command: string,
  flag: string,
  help: string,
  run: (config: OutpostConfig, flag: boolean, out: (text: string) => void) => Promise<unknown>,
): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(help)
  let config: OutpostConfig | undefined
  try {
    const parsed = await offlineArgs(command, args, flag)
    config = parsed.config
    secrets = secretValues(config)
    await run(config, parsed.flag, (text) => process.stdout.write(`${text}\n`))
  } catch (err) {
    const failure = offlineFailure(err, command, help)
    if (failure) fail(...failure)
    const message = config && startFailure(err, config)
    if (message) fail(message, 1)
    throw err
  }
}

const gcCommand = (args: string[]) =>
  offlineCommand(args, 'gc', '--dry-run', GC_HELP, (config, dryRun, out) =>
    runGcCommand(config, dryRun, out),
  )

const scrubCommand = (args: string[]) =>
  offlineCommand(args, 'scrub', '--json', SCRUB_HELP, async (config, json, out) => {
    const report = await runScrubCommand(config, json, out)
    // Exit 1 when anything is affected, so scripts and timers can alert on it.
    if (report.affectedCount > 0) process.exitCode = 1
  })

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'serve':
      return serveCommand(rest)
    case 'verify':
      return verifyCommand(rest)
    case 'gc':
      return gcCommand(rest)
    case 'scrub':
      return scrubCommand(rest)
    case 'sync':
      // Loaded on demand: `serve` should not carry the AWS SDK or the tar code in its memory.
      return (await import('./sync-command.js')).syncCommand(rest)
    case 'mirror':
      return (await import('./mirror-command.js')).mirrorCommand(rest)
    case 'import':
      return (await import('./import-command.js')).importCommand(rest)
    case 'export':
      return (await import('./export-command.js')).exportCommand(rest)
    case 'version':
    case '--version':
    case '-v':
      return void process.stdout.write(`outpost ${version()}\n`)
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return void process.stdout.write(MAIN_HELP)
    default:
      fail(`unknown command ${JSON.stringify(command)}\n\n${MAIN_HELP}`)
  }
}

// Before any AWS client exists: its Node version notice is not for the operator's log.
quietSdkNodeNotice()
main(process.argv.slice(2)).catch((err) => fail(String(err?.stack ?? err), 1))

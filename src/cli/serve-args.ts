// `outpost serve`'s arguments: a config file, or (without one) --address, --port and --root
// for the zero-configuration server. Both at once is refused: the file is the whole truth, and
// SIGHUP re-reads it, which a command-line override would silently lose.
import type { ServeOverrides } from '../config/index.js'
import { UsageError } from './offline.js'

export interface ServeArgs {
  configFile?: string
  overrides: ServeOverrides
}

const FLAGS = { '--address': 'address', '--port': 'port', '--root': 'root' } as const

/** `[config.json]` or `[--address A] [--port P] [--root DIR]` (also `--port=P`). */
export function serveArgs(args: string[]): ServeArgs {
  const overrides: ServeOverrides = {}
  const files: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    const eq = arg.indexOf('=')
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg
    if (!(name in FLAGS)) {
      if (arg.startsWith('-')) throw new UsageError(`serve: unknown option ${arg}`)
      files.push(arg)
      continue
    }
    const value = eq > 0 && name !== arg ? arg.slice(eq + 1) : args[++i]
    if (value === undefined || value === '') throw new UsageError(`serve: ${name} needs a value`)
    overrides[FLAGS[name as keyof typeof FLAGS]] = value
  }
  const port = overrides.port
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) <= 65535)) {
    throw new UsageError(`serve: --port ${port}: expected a port number (0-65535)`)
  }
  if (files.length > 1) throw new UsageError('serve takes at most one config file')
  if (files.length === 1 && Object.keys(overrides).length > 0) {
    throw new UsageError(
      'serve: --address, --port and --root apply without a config file; with one, set ' +
        'http.address, http.port and storage.rootDirectory in it',
    )
  }
  return { configFile: files[0], overrides }
}

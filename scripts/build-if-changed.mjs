// `npm start`'s build step: compile only when a source changed since the last build, so a second
// start answers in about a second instead of waiting 20-35 s for tsc. "Changed" is any file or
// directory under src/ (a directory's mtime moves when a file is added, renamed or deleted), or
// tsconfig.json or package.json, newer than dist/.build-stamp. The stamp is dated when tsc
// *started*, so an edit made while it ran still counts as newer next time.
import { spawnSync } from 'node:child_process'
import { closeSync, openSync, readdirSync, statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = fileURLToPath(new URL('..', import.meta.url))
const stamp = join(repo, 'dist/.build-stamp')

/** The newest mtime (ms) of `path` and, for a directory, of everything under it. */
function newest(path) {
  const info = statSync(path)
  let latest = info.mtimeMs
  if (info.isDirectory()) {
    for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)))
  }
  return latest
}

const sources = Math.max(
  ...['src', 'tsconfig.json', 'package.json'].map((p) => newest(join(repo, p))),
)
let built = -Infinity
try {
  built = statSync(stamp).mtimeMs
} catch {
  // never built through here: build
}
// A stamp without the entry point (dist/ cleaned by hand) builds too.
let entry = true
try {
  statSync(join(repo, 'dist/cli/main.js'))
} catch {
  entry = false
}
if (entry && sources <= built) process.exit(0)

const started = new Date()
process.stderr.write('outpost: compiling src/ to dist/ (changed since the last build)\n')
const tsc = join(repo, 'node_modules/typescript/bin/tsc')
const result = spawnSync(process.execPath, [tsc, '-p', repo], { stdio: 'inherit' })
if (result.status !== 0) process.exit(result.status ?? 1)
closeSync(openSync(stamp, 'a'))
utimesSync(stamp, started, started)

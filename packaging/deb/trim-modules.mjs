#!/usr/bin/env node
// Trims a production node_modules down to what `node` loads at run time on one Linux target:
// no TypeScript sources or declarations, source maps, docs, C/C++ sources, test folders, ES
// module copies that Node never resolves, musl builds, Bare-runtime prebuilds. Then it checks
// that every native addon left is an ELF object for the target machine, so a package for arm64
// can never ship an x86-64 addon by mistake.
//   node trim-modules.mjs <node_modules dir> <x64|arm64|arm>
import { readdirSync, readFileSync, rmSync, statSync, openSync, readSync, closeSync } from 'node:fs'
import { join, basename } from 'node:path'

const [root, cpu] = process.argv.slice(2)
const ELF_MACHINE = { x64: 0x3e, arm64: 0xb7, arm: 0x28 }
if (!root || !(cpu in ELF_MACHINE)) {
  process.stderr.write('usage: trim-modules.mjs <node_modules> <x64|arm64|arm>\n')
  process.exit(2)
}

// Files no runtime code path reads. LICENSE files and every .json stay (packages read JSON).
const DROP_FILE = [
  /\.d\.[cm]?ts$/,
  /\.[cm]?tsx?$/,
  /\.map$/,
  /\.(md|markdown)$/i,
  /\.(c|cc|cpp|h|hpp|gyp|gypi)$/,
  /^(CMakeLists\.txt|Makefile|binding\.gyp|tsconfig.*\.json|rollup\.config\.js)$/,
  /^\.(npmignore|eslintrc.*|editorconfig|prettierrc.*|travis\.yml)$/,
  /\.(musl)\.node$/,
  /\.bare$/, // Bare runtime addons (bare-* packages): Node never loads them
  /\.(html|png|jpe?g|gif|sln|vcxproj)$/,
]
// Folders dropped wherever they appear in a package (and any whose name starts with a dot).
const DROP_DIR = new Set(['dist-types', '__tests__', 'test', 'tests'])
// Folders dropped at a package's top level only.
const DROP_TOP_DIR = new Set(['docs', 'doc', 'example', 'examples', 'benchmark', 'benchmarks'])
// Build-time parts of packages: C sources and headers for compiling the addons (the prebuilt
// ones are used), prebuild download scripts, and package CLIs the registry never runs.
const BUILD_ONLY = [
  'node-addon-api',
  'lmdb/dependencies',
  'lmdb/src',
  'lmdb/bin',
  'msgpackr-extract/bin',
  'node-gyp-build-optional-packages/bin.js',
  'node-gyp-build-optional-packages/build-test.js',
  'node-gyp-build-optional-packages/optional.js',
  'systeminformation/lib/cli.js',
]

let removed = 0
const remove = (path) => {
  removed += sizeOf(path)
  rmSync(path, { recursive: true, force: true })
}

function sizeOf(path) {
  const st = statSync(path)
  if (!st.isDirectory()) return st.size
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0)
}

/** The targets Node can resolve from an "exports" value under import or require. */
function exportTargets(value, out = new Set()) {
  if (typeof value === 'string') out.add(value)
  else if (Array.isArray(value)) value.forEach((v) => exportTargets(v, out))
  else if (value && typeof value === 'object') {
    const keys = Object.keys(value)
    if (keys.some((k) => k.startsWith('.'))) {
      for (const k of keys) exportTargets(value[k], out)
    } else {
      // A conditions object: Node takes the first key among its active conditions.
      for (const active of [
        ['node', 'import', 'default'],
        ['node', 'require', 'default'],
      ]) {
        const key = keys.find((k) => active.includes(k))
        if (key) exportTargets(value[key], out)
      }
    }
  }
  return out
}

/** A package whose "exports" (or "main") never lead Node into dist-es: drop that copy. */
function trimEsCopy(pkgDir) {
  const esDir = join(pkgDir, 'dist-es')
  let pkg
  try {
    if (!statSync(esDir).isDirectory()) return
    pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
  } catch {
    return
  }
  const targets = pkg.exports ? exportTargets(pkg.exports) : new Set([pkg.main ?? 'index.js'])
  if (![...targets].some((t) => t.includes('dist-es'))) remove(esDir)
}

function walk(dir, depth) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules') packages(path)
      else if (
        DROP_DIR.has(entry.name) ||
        entry.name.startsWith('.') ||
        (depth === 0 && DROP_TOP_DIR.has(entry.name))
      ) {
        remove(path)
      } else walk(path, depth + 1)
    } else if (DROP_FILE.some((re) => re.test(entry.name))) remove(path)
  }
}

function packages(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === '.bin') continue
    const path = join(dir, entry.name)
    const pkgDirs = entry.name.startsWith('@')
      ? readdirSync(path).map((name) => join(path, name))
      : [path]
    for (const pkgDir of pkgDirs) {
      trimEsCopy(pkgDir)
      walk(pkgDir, 0)
    }
  }
}

/** Removes empty folders bottom-up (a `src` left with only its TypeScript gone, say). */
function pruneEmpty(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) pruneEmpty(join(dir, entry.name))
  }
  if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true })
}

function elfMachine(path) {
  const fd = openSync(path, 'r')
  const header = Buffer.alloc(20)
  readSync(fd, header, 0, 20, 0)
  closeSync(fd)
  if (header.readUInt32BE(0) !== 0x7f454c46) return -1
  return header.readUInt16LE(18)
}

function addons(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) addons(path, found)
    else if (entry.name.endsWith('.node')) found.push(path)
  }
  return found
}

for (const path of BUILD_ONLY) {
  try {
    remove(join(root, path))
  } catch {
    // not installed in this tree
  }
}
packages(root)
pruneEmpty(root)
const wrong = addons(root).filter((path) => elfMachine(path) !== ELF_MACHINE[cpu])
if (wrong.length > 0) {
  process.stderr.write(`native addons not built for linux-${cpu}:\n  ${wrong.join('\n  ')}\n`)
  process.exit(1)
}
process.stdout.write(
  `trimmed ${(removed / 1048576).toFixed(1)} MiB from ${basename(root)}; addons: ${addons(root)
    .map((p) => p.slice(root.length + 1))
    .join(', ')}\n`,
)

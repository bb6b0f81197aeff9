// The dependency rules of docs/architecture.md §2, checked over the import statements of
// src/: every module (a folder of src/, or a driver folder under src/storage/) sits on a layer;
// an import may point to the same layer or below, never up, and the module graph has no cycle.
// Type-only imports count too: a type drags its module's concepts along with it.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, sep } from 'node:path'

/** Bottom to top. A module imports only from its own layer or the ones before it. */
export const LAYERS: readonly (readonly string[])[] = [
  ['util', 'log', 'layout'],
  ['storage', 'budget'],
  ['config'],
  ['storage/fs', 'storage/s3', 'storage/read-only', 'storage/memory', 'engine-db'],
  ['registry'],
  ['dedupe', 'gc', 'scrub'],
  ['dynamo', 'upstream', 's3-sync', 'archive'],
  ['api', 'auth', 'metrics'],
  ['http', 'ui'],
  ['server'],
  ['cli'],
]

/** Drivers are leaves: storage below them, nothing of the registry or HTTP above. */
const DRIVERS = ['storage/fs', 'storage/s3', 'storage/read-only', 'storage/memory']

/**
 * The composition root: the only module that imports a driver package. Everything else works
 * through the contract (storage/), so no code outside server/ depends on one backend.
 */
const COMPOSITION_ROOT = 'server'

export interface Import {
  from: string // file, relative to the source root
  to: string // file, relative to the source root
  fromModule: string
  toModule: string
}

/** The module a source file belongs to: its top folder, or storage/<driver>. */
export function moduleOf(file: string): string {
  const parts = file.split(sep)
  if (parts[0] === 'storage' && parts.length > 2) return `storage/${parts[1]}`
  return parts.length > 1 ? parts[0] : '.'
}

/** Every relative import between two modules under `root` (static, dynamic and re-exports). */
export function crossModuleImports(root: string): Import[] {
  const found: Import[] = []
  for (const rel of readdirSync(root, { recursive: true }) as string[]) {
    if (!rel.endsWith('.ts') || !statSync(join(root, rel)).isFile()) continue
    const text = readFileSync(join(root, rel), 'utf8')
    for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const to = normalize(join(dirname(rel), m[1])).replace(/\.js$/, '.ts')
      const fromModule = moduleOf(rel)
      const toModule = moduleOf(to)
      if (fromModule !== toModule) found.push({ from: rel, to, fromModule, toModule })
    }
  }
  return found
}

function layerOf(module: string): number {
  const i = LAYERS.findIndex((layer) => layer.includes(module))
  return i
}

/** Each broken rule as one line naming the offending import. */
export function ruleViolations(root: string): string[] {
  const imports = crossModuleImports(root)
  const problems: string[] = []
  const modules = new Set(imports.flatMap((i) => [i.fromModule, i.toModule]))
  for (const m of modules) {
    if (layerOf(m) < 0)
      problems.push(`src/${m}/ is on no layer: add it to LAYERS and to docs/architecture.md`)
  }
  for (const i of imports) {
    const [a, b] = [layerOf(i.fromModule), layerOf(i.toModule)]
    if (a < 0 || b < 0) continue
    if (b > a) {
      problems.push(
        `upward import: src/${i.from} imports src/${i.to} (${i.fromModule} is below ${i.toModule})`,
      )
    } else if (DRIVERS.includes(i.fromModule) && DRIVERS.includes(i.toModule)) {
      problems.push(`driver imports another driver: src/${i.from} imports src/${i.to}`)
    } else if (DRIVERS.includes(i.toModule) && i.fromModule !== COMPOSITION_ROOT) {
      problems.push(
        `driver imported outside ${COMPOSITION_ROOT}/: src/${i.from} imports src/${i.to} (use the contract in storage/)`,
      )
    }
  }
  problems.push(...cycles(imports))
  return problems
}

/** Module cycles (same-layer modules may import each other one way only). */
function cycles(imports: Import[]): string[] {
  const edges = new Map<string, Map<string, string>>()
  for (const i of imports) {
    const out = edges.get(i.fromModule) ?? new Map<string, string>()
    if (!out.has(i.toModule)) out.set(i.toModule, `src/${i.from} -> src/${i.to}`)
    edges.set(i.fromModule, out)
  }
  const found: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (m: string): void => {
    state.set(m, 'open')
    path.push(m)
    for (const [next, via] of edges.get(m) ?? []) {
      if (state.get(next) === 'open') {
        const loop = [...path.slice(path.indexOf(next)), next]
        found.push(`module cycle: ${loop.join(' -> ')} (closed by ${via})`)
      } else if (!state.has(next)) visit(next)
    }
    path.pop()
    state.set(m, 'done')
  }
  for (const m of [...edges.keys()].sort()) if (!state.has(m)) visit(m)
  return found
}

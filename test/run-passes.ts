// The test tiers and the backend matrix, in one place.
// - `npm test`: the type-check (tsconfig.check.json: src, test and bench), then node:test over
//   every test file on the filesystem, then the API suite again with blobs on S3, over subpaths
//   and in memory (FULL_PASSES).
// - `npm run test:fast` (`run-passes.ts fast`), for the edit loop: the unit files (UNIT_FILES: no
//   child process, no skopeo, containerd or docker-registry, no s3rver) on the filesystem, and
//   the API suite in memory (FAST_PASSES).
// A pass names its backend; the child process learns it from one environment variable, read
// only by test/helpers/backend-name.ts. Every step runs even when an earlier one failed, so a
// failure in the first pass never hides what the others would have said; the exit code is
// non-zero when any step failed, and the last lines name the steps that did. Each step writes
// straight to this process's stdout and stderr, so node's closing summary (`# pass`, `# fail`,
// ...) of each pass stays where CI reads it.
import { spawn, type StdioOptions } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { backendEnv, type BackendName } from './helpers/backend-name.js'

export interface Step {
  name: string
  command: string
  args: string[]
  /** added to this process's environment */
  env?: Record<string, string>
}

export interface StepResult {
  name: string
  code: number | null
  signal: NodeJS.Signals | null
}

/** Which files a pass runs. */
export type FileSet = 'all' | 'api' | 'unit'

/** One node:test run: a set of files on one storage backend. */
export interface Pass {
  name: string
  backend: BackendName
  files: FileSet
}

/** `npm test`: every file on the filesystem, then the API suite on each other backend. */
export const FULL_PASSES: readonly Pass[] = [
  { name: 'fs', backend: 'fs', files: 'all' },
  { name: 's3', backend: 's3', files: 'api' },
  { name: 'subpaths', backend: 'subpaths', files: 'api' },
  { name: 'memory', backend: 'memory', files: 'api' },
]

/** `npm run test:fast`: the unit files, and the API suite in memory. */
export const FAST_PASSES: readonly Pass[] = [
  { name: 'unit', backend: 'fs', files: 'unit' },
  { name: 'memory', backend: 'memory', files: 'api' },
]

/**
 * The unit tier, by name: files that start no child process, need no Debian tool and no s3rver,
 * and take a few seconds of CPU each (run-passes.test.ts checks the first three). The API suite
 * is not here: the fast tier runs it in memory. Left out for time though they qualify:
 * cli (~2 min), gc-race (~1 min), concurrency (~30 s), journal, log and reload; and, as they
 * fail when run four at a time on a loaded machine (timing, not logic), pull-ledger-restart
 * and request-limiter.
 */
export const UNIT_FILES: readonly string[] = [
  'budget',
  'config',
  'gc',
  'gc-schedule',
  'import-rules',
  'keyed-lock',
  'limits',
  'memory-driver',
  'memory-release',
  'metrics',
  'mirror-pacing',
  'mirror-pin',
  'mirror-scheduler',
  'mirror-selection',
  'read-only-driver',
  'scrub',
  'staging-split',
  'streaming',
  'sync-config',
  'unread-body',
  'upload-expiry',
  'verify-after-crash',
].map((name) => `test/${name}.test.ts`)

/** The files of each set. */
export function testFiles(testDir: string): Record<FileSet, string[]> {
  const all = readdirSync(testDir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `test/${f}`)
  const apiSuite = (f: string) =>
    /^test\/api-.*\.test\.ts$/.test(f) ||
    f === 'test/bad-input.test.ts' ||
    f === 'test/push-pull.test.ts'
  return { all, api: all.filter(apiSuite), unit: [...UNIT_FILES] }
}

/** node:test, at `concurrency` files at a time (its default is one per core, less one). */
function nodeTest(concurrency?: number): string[] {
  const parallel = concurrency === undefined ? [] : [`--test-concurrency=${concurrency}`]
  return ['--import', 'tsx', '--test', ...parallel, '--test-reporter=spec']
}

function passStep(pass: Pass, files: Record<FileSet, string[]>, concurrency?: number): Step {
  return {
    name: pass.name,
    command: process.execPath,
    args: [...nodeTest(concurrency), ...files[pass.files]],
    env: backendEnv(pass.backend),
  }
}

/** The steps of `npm test`, run from the repository root `root`. */
export function npmTestSteps(root: string): Step[] {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const files = testFiles(resolve(root, 'test'))
  return [
    { name: 'typecheck', command: process.execPath, args: [tsc, '-p', 'tsconfig.check.json'] },
    ...FULL_PASSES.map((p) => passStep(p, files)),
  ]
}

/**
 * Files run at once in the fast tier. Its files mostly wait (timers, sockets, the disk), so more
 * of them than cores keeps the cores busy.
 */
export const FAST_CONCURRENCY = 4

/** The steps of `npm run test:fast`: no type-check (`npm run typecheck` is its own step). */
export function fastTestSteps(root: string): Step[] {
  const files = testFiles(resolve(root, 'test'))
  return FAST_PASSES.map((p) => passStep(p, files, FAST_CONCURRENCY))
}

/** The child running now, so a SIGTERM to the runner reaches it instead of orphaning it. */
let current: ReturnType<typeof spawn> | undefined

function runStep(
  step: Step,
  cwd: string,
  stdio: StdioOptions,
  log: (line: string) => void,
): Promise<StepResult> {
  return new Promise((done) => {
    const child = spawn(step.command, step.args, {
      cwd,
      stdio,
      env: { ...process.env, ...step.env },
    })
    current = child
    child.on('error', (err) => {
      log(`== ${step.name}: could not start ${step.command}: ${err.message}`)
      done({ name: step.name, code: null, signal: null })
    })
    child.on('close', (code, signal) => {
      current = undefined
      done({ name: step.name, code, signal })
    })
  })
}

/** The step as a shell line, cut short when it lists every test file. */
function describeStep(step: Step): string {
  const env = Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${v}`)
  const line = [...env, basename(step.command), ...step.args].join(' ')
  return line.length <= 160 ? line : `${line.slice(0, 160)}... (${step.args.length} arguments)`
}

/** Run every step in order, whatever the earlier ones returned. */
export async function runSteps(
  steps: Step[],
  options: { cwd: string; stdio?: StdioOptions; log?: (line: string) => void },
): Promise<{ results: StepResult[]; failed: string[] }> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`))
  const results: StepResult[] = []
  for (const step of steps) {
    log(`\n== ${step.name}: ${describeStep(step)}`)
    results.push(await runStep(step, options.cwd, options.stdio ?? 'inherit', log))
  }
  const failed = results.filter((r) => r.code !== 0).map((r) => r.name)
  log('')
  for (const r of results) {
    const outcome =
      r.code === 0 ? 'ok' : r.signal ? `FAILED (${r.signal})` : `FAILED (exit ${r.code})`
    log(`== ${r.name}: ${outcome}`)
  }
  log(failed.length === 0 ? '== all steps passed' : `== failed: ${failed.join(', ')}`)
  return { results, failed }
}

const root = fileURLToPath(new URL('..', import.meta.url))
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.on('SIGTERM', () => {
    current?.kill('SIGTERM')
    process.exit(143)
  })
  const tier = process.argv[2] ?? 'full'
  if (tier !== 'full' && tier !== 'fast') throw new Error(`unknown test tier ${tier}: full or fast`)
  const steps = tier === 'fast' ? fastTestSteps(root) : npmTestSteps(root)
  const { failed } = await runSteps(steps, { cwd: root })
  process.exitCode = failed.length === 0 ? 0 : 1
}

// `npm test`: the type-check (tsconfig.check.json: src, test and bench), then node:test over every
// test file, then the API suite again with blobs on S3 and again over subpaths. Every step runs
// even when an earlier one failed, so a failure in the first pass never hides what the S3 and
// subpaths passes would have said; the exit code is non-zero when any step failed, and the last
// lines name the steps that did. Each step writes straight to this process's stdout and stderr,
// so node's closing summary (`# pass`, `# fail`, ...) of each pass stays where CI reads it.
import { spawn, type StdioOptions } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

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

/** The files each backend's pass runs, as the old `&&` chain's globs named them. */
export function testFiles(testDir: string): { all: string[]; api: string[] } {
  const all = readdirSync(testDir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `test/${f}`)
  const apiSuite = (f: string) =>
    /^test\/api-.*\.test\.ts$/.test(f) ||
    f === 'test/bad-input.test.ts' ||
    f === 'test/push-pull.test.ts'
  return { all, api: all.filter(apiSuite) }
}

/** The steps of `npm test`, run from the repository root `root`. */
export function npmTestSteps(root: string): Step[] {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const { all, api } = testFiles(resolve(root, 'test'))
  const nodeTest = ['--import', 'tsx', '--test', '--test-reporter=spec']
  return [
    { name: 'typecheck', command: process.execPath, args: [tsc, '-p', 'tsconfig.check.json'] },
    { name: 'fs', command: process.execPath, args: [...nodeTest, ...all] },
    {
      name: 's3',
      command: process.execPath,
      args: [...nodeTest, ...api],
      env: { OUTPOST_TEST_BACKEND: 's3' },
    },
    {
      name: 'subpaths',
      command: process.execPath,
      args: [...nodeTest, ...api],
      env: { OUTPOST_TEST_BACKEND: 'subpaths' },
    },
  ]
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
  const { failed } = await runSteps(npmTestSteps(root), { cwd: root })
  process.exitCode = failed.length === 0 ? 0 : 1
}

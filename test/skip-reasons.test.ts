// A test that cannot run on this machine says so (issue 14): node's summary counts it as skipped,
// with its reason, instead of a pass from an early return or a skipped suite that node 20 leaves
// out of the count. Each case runs a test file in a child process under the condition that stops
// it: not root for the .deb install test, a temporary directory on tmpfs for the sampler's
// device-counter test.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { REPO_ROOT } from './helpers/harness.js'

const run = promisify(execFile)
const NOBODY = 65534

interface TapRun {
  /** `ok` lines of tests (not suites): name → the text after `# SKIP`, or null when it ran */
  tests: Map<string, string | null>
  summary: Record<string, number>
  output: string
}

/** Run one test file with node's TAP reporter, optionally as uid `nobody`, and read its report. */
async function tapRun(
  file: string,
  options: { env?: Record<string, string>; nobody?: boolean; pattern?: string } = {},
): Promise<TapRun> {
  const args = ['--import', 'tsx', '--test', '--test-reporter=tap']
  if (options.pattern) args.push(`--test-name-pattern=${options.pattern}`)
  args.push(file)
  const asNobody = options.nobody && process.getuid?.() === 0
  const [command, argv] = asNobody
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath]]
    : [process.execPath, []]
  // Without NODE_TEST_CONTEXT, which node sets in a test file's process: the child's runner would
  // report to this one in its private format instead of writing TAP.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env
  const { stdout } = await run(command, [...argv, ...args], {
    cwd: REPO_ROOT,
    env: { ...env, ...options.env },
    maxBuffer: 16 << 20,
    timeout: 120_000,
  })
  const tests = new Map<string, string | null>()
  // Tests are indented under their suite; suites' own `ok` lines are not.
  for (const m of stdout.matchAll(/^ {4}(?:not )?ok \d+ - (.*?)(?: # SKIP(?: (.*))?)?$/gm)) {
    tests.set(m[1], m[0].includes(' # SKIP') ? (m[2] ?? '') : null)
  }
  const summary: Record<string, number> = {}
  for (const m of stdout.matchAll(/^# (tests|pass|fail|skipped|cancelled) (\d+)$/gm)) {
    summary[m[1]] = Number(m[2])
  }
  return { tests, summary, output: stdout }
}

describe('tests that cannot run here are counted as skipped, with the reason', () => {
  it('the .deb install test, not root: every test skipped with "needs root"', async (t) => {
    if (process.getuid?.() === 0 && !existsSync('/usr/bin/setpriv')) {
      t.skip('needs setpriv (util-linux) to run the file as nobody')
      return
    }
    const report = await tapRun('test/package.test.ts', { nobody: true })
    assert.ok(report.tests.size >= 5, report.output)
    for (const [name, skip] of report.tests) {
      assert.match(skip ?? 'ran', /^needs root/, `${name}\n${report.output}`)
    }
    assert.equal(report.summary.skipped, report.tests.size, report.output)
    assert.equal(report.summary.pass, 0, report.output)
    assert.equal(report.summary.fail, 0, report.output)
  })

  it('the sampler on tmpfs: the device-counter test is skipped, naming the missing device', async (t) => {
    if (!existsSync('/dev/shm')) {
      t.skip('needs /dev/shm (a tmpfs) for a directory without a block device')
      return
    }
    const report = await tapRun('test/sampler.test.ts', {
      env: { TMPDIR: '/dev/shm' },
      pattern: "root device's counters",
    })
    const name =
      "reads others' CPU, available memory, and the root device's counters growing with a write"
    assert.ok(report.tests.has(name), report.output)
    assert.match(report.tests.get(name) ?? 'ran', /no block device under \/dev\/shm/, report.output)
    assert.equal(report.summary.fail, 0, report.output)
  })
})

// Crash safety (docs/architecture.md §5.2 and §5.3): a server with commit=true is killed with SIGKILL at
// random moments while several clients push; after every kill the root must hold only whole,
// verified content, and after every restart each push that was answered 201 must pull back
// byte-identical over HTTP. SIGKILL keeps the page cache, so this proves atomicity and the
// restart path, not fsync; test/power-cut.test.ts covers that.
// The work is a fixed count, whatever the machine's speed: LANES x ROUNDS_PER_LANE kills, each
// round at most PUSHERS x PUSHES_PER_PUSHER pushes, the kill at a drawn request of the round.
// The draws come from a seed the test prints; OUTPOST_TEST_SEED=<seed> replays them.
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  childServer,
  makeImage,
  pushImage,
  removeDir,
  tempDir,
  type ChildServer,
  type TestImage,
} from './helpers/harness.js'
import { checkLayout, delay, pullProblems, requester } from './helpers/durability.js'
import { rng, testSeed } from './helpers/seeded.js'

/** Independent roots killed in parallel: the kills of one land while the other restarts. */
const LANES = 2
const ROUNDS_PER_LANE = 26
const PUSHERS = 3
const PUSHES_PER_PUSHER = 4
/**
 * The kill comes once the k-th request of a round has been sent, k drawn in [1, KILL_WITHIN]:
 * a push is two or three blob POSTs and a manifest PUT, so the kill lands within the round's
 * pushes, most often with several in flight.
 */
const KILL_WITHIN = PUSHERS * PUSHES_PER_PUSHER * 3
const REPOS = ['crash/app', 'crash/tools/base']

interface Acked {
  repo: string
  tag: string
  image: TestImage
}

interface LaneResult {
  kills: number
  acked: number
  /** rounds in which the kill landed while a push was in flight */
  killedMidPush: number
}

/** One root: push, SIGKILL at a drawn request, check the files, restart, check over HTTP; repeat. */
async function crashLane(seed: number, lane: number, root: string): Promise<LaneResult> {
  const acked: Acked[] = []
  let unverified: Acked[] = []
  const result: LaneResult = { kills: 0, acked: 0, killedMidPush: 0 }
  let server: ChildServer = await childServer(root, { commit: true })
  try {
    for (let round = 0; round < ROUNDS_PER_LANE; round++) {
      const draw = rng(seed, lane, round)
      const killAt = draw.int(1, KILL_WITHIN)
      // How long after that request goes out: where in its handling (or another's) the kill falls.
      const settleMs = draw.int(0, 20)
      let sent = 0
      let reached = () => {}
      const killPoint = new Promise<void>((resolve) => (reached = resolve))
      const direct = requester(server.url)
      const request: typeof direct = (path, init) => {
        if (++sent === killAt) reached()
        return direct(path, init)
      }
      const failures: string[] = []
      let stopped = false
      let inFlight = 0
      const pusher = async (p: number) => {
        const own = rng(seed, lane, round, p + 1)
        for (let n = 0; n < PUSHES_PER_PUSHER && !stopped; n++) {
          const tag = `l${lane}-r${round}-p${p}-${n}`
          // Some pushes repeat an earlier image under a new tag: the same blobs are then
          // published again, possibly by two pushers at once.
          const content = own.next() < 0.3 ? `shared-${lane}-${own.int(0, 3)}` : tag
          const image = makeImage(content, own.int(1, 2))
          const repo = REPOS[(p + n) % REPOS.length]
          inFlight++
          try {
            const res = await pushImage(request, repo, image, tag)
            if (res.status === 201) {
              acked.push({ repo, tag, image })
              unverified.push({ repo, tag, image })
            } else
              failures.push(`${repo}:${tag} manifest answered ${res.status} ${await res.text()}`)
          } catch (err) {
            // A connection cut by the kill is expected; an HTTP error status is not.
            if (/push failed/.test(String(err))) failures.push(`${repo}:${tag} ${err}`)
            return
          } finally {
            inFlight--
          }
        }
      }
      const pushers = Array.from({ length: PUSHERS }, (_, p) => pusher(p))
      // All pushes may end before the k-th request: the kill then finds the server idle.
      await Promise.race([killPoint, Promise.all(pushers)])
      await delay(settleMs)
      if (inFlight > 0) result.killedMidPush++
      const code = await server.kill('SIGKILL')
      assert.equal(code, null, 'the server died of the signal, not on its own')
      result.kills++
      stopped = true
      await Promise.all(pushers)
      assert.deepEqual(failures, [], `lane ${lane} round ${round}: pushes answered errors`)

      // The files exactly as the kill left them: whole content only, every acknowledged tag in place.
      const report = await checkLayout(root)
      assert.deepEqual(report.problems, [], `lane ${lane} round ${round}: layout after SIGKILL`)
      for (const a of acked) {
        assert.equal(
          report.tags.get(a.repo)?.get(a.tag),
          a.image.digest,
          `lane ${lane} round ${round}: acknowledged ${a.repo}:${a.tag} not in index.json`,
        )
      }

      server = await childServer(root, { commit: true })
      assert.match(server.output(), /"cleanStart":false/, 'a SIGKILL is seen as an unclean stop')
      // Staging left by the crash is cleared before the first request.
      assert.deepEqual(await readdir(join(root, '_outpost/tmp')).catch(() => []), [])
      const pulls = requester(server.url)
      for (const a of unverified) {
        assert.deepEqual(
          await pullProblems(pulls, a.repo, a.tag, a.image),
          [],
          `lane ${lane} round ${round}`,
        )
      }
      unverified = []
      for (const repo of REPOS) {
        const wanted = acked.filter((a) => a.repo === repo).map((a) => a.tag)
        if (wanted.length === 0) continue
        const res = await pulls(`/v2/${repo}/tags/list`)
        assert.equal(res.status, 200)
        const { tags } = (await res.json()) as { tags: string[] }
        const missing = wanted.filter((t) => !tags.includes(t))
        assert.deepEqual(missing, [], `lane ${lane} round ${round}: tags list of ${repo}`)
      }
    }
    // Everything acknowledged in any round is still there after the last restart.
    const pulls = requester(server.url)
    for (const a of acked) assert.deepEqual(await pullProblems(pulls, a.repo, a.tag, a.image), [])
    result.acked = acked.length
    return result
  } finally {
    await server.kill('SIGKILL')
  }
}

describe('crash safety (SIGKILL, commit=true)', () => {
  const roots: string[] = []
  after(async () => {
    for (const root of roots) await removeDir(root)
  })

  // The timeout only catches a hang: the work is counted, so a slow machine takes longer.
  it(
    'survives SIGKILL at random moments during concurrent pushes',
    { timeout: 900_000 },
    async (t) => {
      const seed = testSeed()
      t.diagnostic(`seed=${seed} (OUTPOST_TEST_SEED=${seed} replays the draws)`)
      for (let lane = 0; lane < LANES; lane++) roots.push(await tempDir('outpost-crash-'))
      const results = await Promise.all(roots.map((root, lane) => crashLane(seed, lane, root)))
      const kills = results.reduce((n, r) => n + r.kills, 0)
      const acked = results.reduce((n, r) => n + r.acked, 0)
      const midPush = results.reduce((n, r) => n + r.killedMidPush, 0)
      t.diagnostic(
        `${kills} kills (${midPush} with a push in flight), ${acked} acknowledged pushes`,
      )
      assert.equal(kills, LANES * ROUNDS_PER_LANE)
      // The test only proves something when kills land during pushes and pushes get through.
      assert.ok(midPush >= kills / 2, `most kills land mid-push (${midPush} of ${kills})`)
      assert.ok(acked >= kills, `enough pushes were acknowledged to check (${acked})`)
    },
  )
})

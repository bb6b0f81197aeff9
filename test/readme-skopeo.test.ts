// The README's "Push and pull with skopeo" section, run as written: its shell block (making a
// layout with umoci, pushing, inspecting and pulling with skopeo) and the docker-archive commands
// it gives in prose, against `outpost serve` storing under ./data of the same directory. Only the
// port differs (the OS picks it). Also what it says of skopeo's oci: transport and Docker types.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { haveCommand, REPO_ROOT, scratchDirs } from './helpers/harness.js'
import { serveOutpost, type ServingOutpost } from './helpers/outpost-cli.js'

const run = promisify(execFile)
const dir = scratchDirs()
const missing = !(await haveCommand('skopeo'))
  ? 'needs skopeo (Debian package skopeo)'
  : !(await haveCommand('umoci'))
    ? 'needs umoci (Debian package umoci)'
    : false

/** The README's section under `heading`, up to the next heading. */
async function section(heading: string): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf(`\n## ${heading}\n`)
  assert.notEqual(start, -1, `README has a "${heading}" section`)
  const end = readme.indexOf('\n## ', start + 1)
  return readme.slice(start, end === -1 ? undefined : end)
}

describe('README: push and pull with skopeo', () => {
  const servers: ServingOutpost[] = []
  after(async () => {
    for (const s of servers) await s.stop()
  })

  it('runs as written against a server storing under ./data', { skip: missing }, async () => {
    const text = await section('Push and pull with skopeo')
    const block = /```sh\n([\s\S]*?)```/.exec(text)?.[1]
    assert.ok(block, 'the section has a sh block')
    const cwd = await dir('outpost-readme-')
    const config = join(await dir('outpost-readme-cfg-'), 'config.json')
    await writeFile(
      config,
      JSON.stringify({
        storage: { rootDirectory: join(cwd, 'data') },
        http: { address: '127.0.0.1', port: 0 },
      }),
    )
    // The zero-config server creates ./data; a configured root must exist.
    await run('mkdir', [join(cwd, 'data')])
    const server = await serveOutpost([config], cwd)
    servers.push(server)
    const host = new URL(server.url).host
    const sh = (script: string) =>
      run('bash', ['-euo', 'pipefail', '-c', script.replaceAll('127.0.0.1:5000', host)], { cwd })

    const { stdout } = await sh(block)
    // The pushed image is what was pulled, and what skopeo reads from the repository's layout.
    const pulled = JSON.parse(await readFile(join(cwd, 'pulled', 'index.json'), 'utf8'))
    const digest = pulled.manifests[0].digest
    assert.match(stdout, new RegExp(`"Digest": "${digest}"`))
    const onDisk = JSON.parse((await sh('skopeo inspect oci:./data/demo/app:1.0')).stdout)
    assert.equal(onDisk.Digest, digest)

    // The prose commands for an image one already has, as a `docker save` archive.
    const prose = [...text.matchAll(/`(skopeo copy [^`]*docker-archive:[^`]*)`/g)].map((m) =>
      m[1].replace(/\s+/g, ' '),
    )
    assert.equal(prose.length, 2, `${prose}`)
    await sh('skopeo copy oci:./my-layout:latest docker-archive:./app.tar:demo/app:1.0')
    await rm(join(cwd, 'my-layout'), { recursive: true })
    for (const command of prose) await sh(command)
    const again = JSON.parse(
      (await sh('skopeo inspect --tls-verify=false docker://127.0.0.1:5000/demo/app:1.0')).stdout,
    )
    assert.deepEqual(again.Layers, onDisk.Layers)
    await sh('skopeo inspect oci:./my-layout:latest')

    // As the section says: a Docker-typed tag is served, but skopeo's oci: transport cannot read it.
    assert.match(text, /no descriptor found for\s+reference/)
    await sh(
      'skopeo copy --format v2s2 --dest-tls-verify=false oci:./my-layout:latest ' +
        'docker://127.0.0.1:5000/demo/docker:1.0',
    )
    await sh('skopeo inspect --tls-verify=false docker://127.0.0.1:5000/demo/docker:1.0')
    await assert.rejects(sh('skopeo inspect oci:./data/demo/docker:1.0'), (err: Error) => {
      assert.match(String((err as { stderr?: string }).stderr), /no descriptor found for reference/)
      return true
    })
  })
})

// systemd readiness: with $NOTIFY_SOCKET set, `outpost serve` reports READY=1 once listening and
// STOPPING=1 on shutdown (through systemd-notify), received here by a unix datagram listener
// standing in for systemd.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { it } from 'node:test'
import { haveCommand, scratchDirs } from './helpers/harness.js'
import { serveProcess } from './helpers/ops.js'
import { suiteNeeding } from './helpers/suite.js'

const reason = !(await haveCommand('systemd-notify'))
  ? 'needs systemd-notify (install the Debian package systemd)'
  : !(await haveCommand('python3'))
    ? 'needs python3 for the datagram listener (install the Debian package python3)'
    : false
const dir = scratchDirs()

// Prints each datagram on its own line ("|" for newlines inside one).
const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    data = s.recv(4096)
    print(data.decode().replace("\\n", "|"), flush=True)
`

suiteNeeding('systemd notify', reason, () => {
  it('sends READY=1 once listening and STOPPING=1 on SIGTERM', async () => {
    const work = await dir('outpost-notify-')
    const socketPath = join(work, 'notify.sock')
    const listener = spawn('python3', ['-c', LISTENER, socketPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let heard = ''
    const waitHeard = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`heard only: ${heard}`)), 15_000)
        const check = () => pattern.test(heard) && (clearTimeout(timer), resolve())
        listener.stdout!.on('data', (d) => ((heard += d), check()))
        check()
      })
    try {
      await waitHeard(/bound/)
      const file = join(work, 'config.json')
      await writeFile(
        file,
        JSON.stringify({
          storage: { rootDirectory: work },
          http: { address: '127.0.0.1', port: 0 },
        }),
      )
      const server = await serveProcess(file, { NOTIFY_SOCKET: socketPath })
      await waitHeard(/READY=1/)
      assert.doesNotMatch(heard, /STOPPING=1/)
      server.process.kill('SIGTERM')
      await waitHeard(/STOPPING=1/)
      assert.equal(await server.exited, 0)
      // READY came before STOPPING.
      assert.ok(heard.indexOf('READY=1') < heard.indexOf('STOPPING=1'))
    } finally {
      listener.kill()
    }
  })

  it('sends nothing without $NOTIFY_SOCKET', async () => {
    const work = await dir('outpost-notify-none-')
    const file = join(work, 'config.json')
    await writeFile(file, JSON.stringify({ storage: { rootDirectory: work }, http: { port: 0 } }))
    const server = await serveProcess(file, { NOTIFY_SOCKET: undefined })
    server.process.kill('SIGTERM')
    assert.equal(await server.exited, 0)
    assert.doesNotMatch(server.output(), /systemd notification failed/)
  })
})

// TLS (zot's http.tls): a self-signed certificate made by the test with openssl; skopeo pushes
// and pulls verifying it through --dest-cert-dir/--src-cert-dir; with cacert, a client without
// a certificate signed by that CA is refused at the handshake.
import assert from 'node:assert/strict'
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import {
  makeImage,
  scratchDirs,
  sha256,
  socketServer,
  type RunningServer,
} from './helpers/harness.js'
import { missingTools, skopeoCopy } from './helpers/images.js'
import { makeCert, writeImageLayout, type CertFiles } from './helpers/ops.js'
import { layoutIndex } from './helpers/archives.js'
import { suiteNeeding } from './helpers/suite.js'

const reason = await missingTools('openssl', 'skopeo')
const dir = scratchDirs()

/** GET over https with the given options; resolves with the status or the TLS error's code. */
function get(url: string, options: RequestOptions): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, options, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    req.end()
  })
}

suiteNeeding('TLS', reason, () => {
  let work: string
  let cert: CertFiles
  let server: RunningServer & { root: string }
  const tlsHttp = (tls: { cert: string; key: string; cacert?: string }) => ({
    http: { address: '127.0.0.1', port: 0, shutdownTimeoutMs: 2000, tls },
  })

  before(async () => {
    work = await dir('outpost-tls-')
    cert = await makeCert(join(work, 'server'), 'registry')
    server = await socketServer(undefined, {}, tlsHttp({ cert: cert.cert, key: cert.key }))
  })
  after(() => server?.close())

  it('parses http.tls and resolves its paths', () => {
    const config = parseConfig(
      '{"storage":{"rootDirectory":"/tmp"},"http":{"tls":{"cert":"/etc/c.pem","key":"/etc/k.pem"}}}',
    )
    assert.deepEqual(config.http.tls, { cert: '/etc/c.pem', key: '/etc/k.pem' })
    assert.throws(
      () => parseConfig('{"storage":{"rootDirectory":"/tmp"},"http":{"tls":{"cert":"x"}}}'),
      /http\.tls\.key/,
    )
  })

  it('serves https with the configured certificate only', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(await get(`${server.url}/v2/`, { ca: cert.pem }), 200)
    // Without trusting it, a client refuses the self-signed certificate.
    assert.equal(await get(`${server.url}/v2/`, {}), 'DEPTH_ZERO_SELF_SIGNED_CERT')
  })

  it('skopeo pushes and pulls, verifying the certificate from a cert dir', async () => {
    const certDir = join(work, 'certs.d')
    await mkdir(certDir)
    await copyFile(cert.cert, join(certDir, 'ca.crt'))
    const image = makeImage('tls', 2)
    await writeImageLayout(join(work, 'src'), image, 'v1')
    const target = `docker://${new URL(server.url).host}/secure/app:v1`
    await skopeoCopy(`oci:${join(work, 'src')}:v1`, target, '--dest-cert-dir', certDir)
    await skopeoCopy(target, `oci:${join(work, 'out')}:v1`, '--src-cert-dir', certDir)
    // skopeo compresses the layers on the way in; the pull brings back exactly what is stored.
    const repo = join(server.root, 'secure/app')
    const top = (await layoutIndex(repo)).manifests[0].digest
    assert.equal((await layoutIndex(join(work, 'out'))).manifests[0].digest, top)
    const blob = (root: string, digest: string) =>
      readFile(join(root, 'blobs/sha256', digest.slice(7)))
    const manifest = JSON.parse((await blob(repo, top)).toString())
    assert.equal(manifest.layers.length, image.layers.length)
    for (const { digest } of manifest.layers as Array<{ digest: string }>) {
      assert.deepEqual(await blob(join(work, 'out'), digest), await blob(repo, digest))
    }
    // And without the cert dir, skopeo refuses the unknown certificate.
    await assert.rejects(skopeoCopy(`oci:${join(work, 'src')}:v1`, target), /certificate/)
  })

  it('with cacert, requires a client certificate signed by that CA', async () => {
    const ca = await makeCert(join(work, 'ca'), 'clients-ca')
    const client = await makeCert(join(work, 'client'), 'client', ca)
    const stranger = await makeCert(join(work, 'stranger'), 'stranger')
    const mtls = await socketServer(
      undefined,
      {},
      tlsHttp({ cert: cert.cert, key: cert.key, cacert: ca.cert }),
    )
    try {
      const url = `${mtls.url}/v2/`
      const withCert = (c: CertFiles) => ({
        ca: cert.pem,
        cert: c.pem,
        key: '',
      })
      const key = async (c: CertFiles) => ({ ...withCert(c), key: await readFile(c.key, 'utf8') })
      assert.equal(await get(url, await key(client)), 200)
      assert.notEqual(await get(url, { ca: cert.pem }), 200)
      assert.notEqual(await get(url, await key(stranger)), 200)
    } finally {
      await mtls.close()
    }
  })

  it('refuses to start with a key that does not match the certificate', async () => {
    const other = await makeCert(join(work, 'other'), 'other')
    await assert.rejects(
      socketServer(undefined, {}, tlsHttp({ cert: cert.cert, key: other.key })),
      /key values mismatch|KEY_VALUES_MISMATCH/i,
    )
  })
})

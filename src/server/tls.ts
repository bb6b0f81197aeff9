// HTTPS (zot's http.tls): the certificate and key, and with `cacert` mutual TLS: every client
// must present a certificate signed by that CA (the handshake fails otherwise). The files are
// re-read on SIGHUP and swapped in with setSecureContext: connections already open keep theirs,
// new ones get the new certificate.
import { readFile } from 'node:fs/promises'
import type { Server as HttpsServer, ServerOptions } from 'node:https'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import type { TlsSettings } from '../config/ops.js'

/** The certificate, key and CA as a secure context takes them; a bad pair fails here. */
export async function readTlsFiles(tls: TlsSettings): Promise<SecureContextOptions> {
  const [cert, key, ca] = await Promise.all([
    readFile(tls.cert),
    readFile(tls.key),
    tls.cacert ? readFile(tls.cacert) : undefined,
  ])
  const options: SecureContextOptions = { cert, key, ...(ca && { ca }) }
  // Throws on a key that does not match its certificate, before anything is swapped in.
  createSecureContext(options)
  return options
}

/** Options for https.createServer. */
export async function tlsServerOptions(tls: TlsSettings): Promise<ServerOptions> {
  return {
    ...(await readTlsFiles(tls)),
    // Client certificates: asked for and verified only when a CA to verify them is configured.
    requestCert: tls.cacert !== undefined,
    rejectUnauthorized: tls.cacert !== undefined,
  }
}

/** SIGHUP: the files again, for connections accepted from now on. */
export async function reloadTls(server: HttpsServer, tls: TlsSettings): Promise<void> {
  server.setSecureContext(await readTlsFiles(tls))
}

// Secrets never reach a log line or a terminal: S3 keys, session tokens, upstream passwords,
// bearer tokens, htpasswd hashes. maskSecrets is applied by the logger to every line's fields
// and by the CLI to whatever it prints of a configuration (verify --print) or of an error.
// It masks by key name (a value under "secretkey" is a secret whatever it looks like) and, in
// free text, by shape: a URL's userinfo password and a bcrypt hash.

export const MASK = '***'

// Key names compared lower-case with "-", "_" and spaces removed: secretKey, secret_key and
// AWS_SECRET_ACCESS_KEY all match.
const SECRET_KEYS = new Set([
  'accesskey',
  'accesskeyid',
  'awsaccesskeyid',
  'secretkey',
  'secretaccesskey',
  'awssecretaccesskey',
  'sessiontoken',
  'awssessiontoken',
  'password',
  'passwd',
  'secret',
  'clientsecret',
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'bearertoken',
  'apikey',
  'authorization',
  'proxyauthorization',
  'cookie',
  'credentials',
  'htpasswd',
  'hash',
  'passwordhash',
])

const normalize = (key: string) => key.toLowerCase().replace(/[-_\s]/g, '')

/** Whether a value stored under `key` is a secret. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(normalize(key))
}

// scheme://user:password@host -> scheme://user:***@host
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+@/gi
// bcrypt, as htpasswd -B writes it: $2y$10$ and 53 characters of salt and hash.
const BCRYPT_HASH = /\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}/g

/** `text` with the secrets that can be recognised by their shape masked. */
export function maskText(text: string): string {
  return text.replace(URL_PASSWORD, `$1${MASK}@`).replace(BCRYPT_HASH, MASK)
}

/**
 * A copy of `value` in which every secret-bearing key's value is masked (objects under such a key,
 * such as http.auth.token's settings, are walked instead: only text and numbers are secrets), and
 * every string is passed through maskText. Plain objects and arrays are copied; anything else
 * (an Error, a Date, a Buffer) is returned as it is.
 */
export function maskSecrets<T>(value: T): T {
  return walk(value, false, new WeakSet()) as T
}

function walk(value: unknown, secret: boolean, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return secret ? MASK : maskText(value)
  if (typeof value === 'number' || typeof value === 'bigint') return secret ? MASK : value
  if (value === null || typeof value !== 'object') return value
  if (seen.has(value)) return '[circular]'
  if (Array.isArray(value)) {
    seen.add(value)
    return value.map((v) => walk(v, secret, seen))
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  seen.add(value)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = walk(v, isSecretKey(k), seen)
  return out
}

/** Every secret value (by key) in `value`, e.g. a configuration's, to mask in arbitrary text. */
export function secretValues(value: unknown, found = new Set<string>(), secret = false) {
  if (typeof value === 'string' && secret && value.length >= 4) found.add(value)
  else if (Array.isArray(value)) for (const v of value) secretValues(v, found, secret)
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) secretValues(v, found, secret || isSecretKey(k))
  }
  return found
}

/** `text` with each of `secrets` masked, and the shapes maskText knows. */
export function maskKnown(text: string, secrets: Iterable<string>): string {
  let out = text
  for (const s of secrets) out = out.split(s).join(MASK)
  return maskText(out)
}

// Repository names and references (distribution-spec "Pulling manifests": <name> and
// <reference>), plus the layout-collision rule of docs/architecture.md §4.
import { RESERVED_COMPONENTS } from '../layout/index.js'
import { Digest } from './digest.js'
import { RegistryError } from './errors.js'

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
/** Many clients limit a full reference to 255 characters; the name alone must fit within it. */
const MAX_NAME_LENGTH = 255

export function checkRepoName(name: string): string {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new RegistryError(
      'NAME_INVALID',
      `repository name must be 1 to ${MAX_NAME_LENGTH} characters`,
    )
  }
  for (const component of name.split('/')) {
    if (!COMPONENT.test(component)) {
      throw new RegistryError(
        'NAME_INVALID',
        `invalid repository name component ${JSON.stringify(component)}`,
      )
    }
    if (RESERVED_COMPONENTS.has(component)) {
      throw new RegistryError(
        'NAME_INVALID',
        `repository name component ${JSON.stringify(component)} is reserved by the image layout`,
      )
    }
  }
  return name
}

export function isTag(reference: string): boolean {
  return TAG.test(reference)
}

export type Reference = { tag: string } | { digest: Digest }

/**
 * The reference of a manifest PUT: a tag or a digest; anything else is invalid (400
 * MANIFEST_INVALID, or DIGEST_INVALID for a malformed digest).
 */
export function parseReference(reference: string): Reference {
  if (isTag(reference)) return { tag: reference }
  if (Digest.looksLike(reference)) return { digest: Digest.parse(reference) }
  throw new RegistryError('MANIFEST_INVALID', `invalid reference ${JSON.stringify(reference)}`)
}

/**
 * The reference of a manifest GET, HEAD or DELETE. distribution-spec "Pulling manifests": a
 * <reference> is a digest or a tag and "MUST NOT be in any other format" (a rule for clients),
 * and "if the manifest is not found in the registry, the response code MUST be 404 Not Found".
 * A reference that is neither a tag nor a digest Outpost accepts (".INVALID_MANIFEST_NAME", as
 * the conformance suite sends; "sha256:short"; an unsupported algorithm) can name no stored
 * manifest, so it is unknown: 404 MANIFEST_UNKNOWN, decided before storage or an upstream is
 * asked anything.
 */
export function lookupReference(reference: string): Reference {
  if (isTag(reference)) return { tag: reference }
  if (Digest.looksLike(reference)) {
    try {
      return { digest: Digest.parse(reference) }
    } catch {
      // a malformed digest or an unsupported algorithm: unknown, as below
    }
  }
  throw new RegistryError('MANIFEST_UNKNOWN', `manifest unknown: ${JSON.stringify(reference)}`)
}

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Upload session ids are UUIDs Outpost made; anything else cannot name a session. */
export function checkSessionId(id: string): string {
  if (!SESSION_ID.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'unknown upload session')
  return id
}

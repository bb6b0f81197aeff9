// The one table that turns a registry error into the OCI error response (distribution-spec
// "Error Codes": {"errors":[{"code","message","detail"}]}). Statuses follow the spec where it
// names one (413 for oversized manifests, 416 for out-of-order chunks, 405 for unsupported
// operations) and CNCF distribution's conventions elsewhere. Every 4xx code is one the spec lists
// ("The `code` field MUST be one of the following"), so failures without a code of their own
// (an unknown endpoint, a malformed `n`) answer UNSUPPORTED with their own status.
import { RegistryError, type ErrorCode } from '../registry/index.js'
import { StorageFullError, StorageKeyError, StorageUnavailableError } from '../storage/index.js'
import { ReadOnlyStorageError } from '../storage/index.js'

interface ErrorEntry {
  /** the code clients see */
  code: string
  status: number
}

const TABLE: Record<ErrorCode, ErrorEntry> = {
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404 },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400 },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404 },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400 },
  MANIFEST_BLOB_UNKNOWN: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400 },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400 },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404 },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400 },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404 },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400 },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401 },
  DENIED: { code: 'DENIED', status: 403 },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 405 },
  TOOMANYREQUESTS: { code: 'TOOMANYREQUESTS', status: 429 },
  UPLOAD_RANGE_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 416 },
  RANGE_NOT_SATISFIABLE: { code: 'SIZE_INVALID', status: 416 },
  MANIFEST_TOO_LARGE: { code: 'SIZE_INVALID', status: 413 },
  CONTENT_TOO_LARGE: { code: 'SIZE_INVALID', status: 413 },
  STORAGE_FULL: { code: 'UNKNOWN', status: 507 },
  UNAVAILABLE: { code: 'UNAVAILABLE', status: 503 },
  PAGINATION_NUMBER_INVALID: { code: 'UNSUPPORTED', status: 400 },
  NOT_FOUND: { code: 'UNSUPPORTED', status: 404 },
}

export interface ErrorReply {
  status: number
  body: { errors: Array<{ code: string; message: string; detail?: unknown }> }
  /** true when the failure is ours, not the client's: worth logging with its stack */
  internal: boolean
}

/** Map anything thrown by a handler to its reply; unknown failures become 500 UNKNOWN. */
export function errorReply(err: unknown): ErrorReply {
  const known = toRegistryError(err)
  if (known) {
    const entry = TABLE[known.code]
    const error = {
      code: entry.code,
      message: known.message,
      ...(known.detail !== undefined && { detail: known.detail }),
    }
    return { status: entry.status, body: { errors: [error] }, internal: entry.status >= 500 }
  }
  return {
    status: 500,
    body: { errors: [{ code: 'UNKNOWN', message: 'internal server error' }] },
    internal: true,
  }
}

function toRegistryError(err: unknown): RegistryError | undefined {
  if (err instanceof RegistryError) return err
  if (err instanceof StorageFullError)
    return new RegistryError('STORAGE_FULL', 'storage is full; retry later')
  if (err instanceof StorageKeyError) return new RegistryError('NAME_INVALID', 'invalid name')
  // The backend is down, not the request wrong: 503 names it, so a client (or its operator)
  // knows to retry later and where to look.
  if (err instanceof StorageUnavailableError) return new RegistryError('UNAVAILABLE', err.message)
  // A push or delete to a hosted repository (Outpost's `hosting`): the operator's choice, 403.
  if (err instanceof ReadOnlyStorageError) return new RegistryError('DENIED', err.message)
  return undefined
}

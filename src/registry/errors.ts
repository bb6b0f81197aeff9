// The one throwable error of the registry layer. It names an OCI error code
// (distribution-spec "Error Codes"); src/api/errors.ts maps each code to its HTTP status once.
export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  // Not OCI codes of their own: variants the HTTP layer answers with a different status.
  | 'UPLOAD_RANGE_INVALID'
  | 'RANGE_NOT_SATISFIABLE'
  | 'MANIFEST_TOO_LARGE'
  | 'CONTENT_TOO_LARGE'
  | 'STORAGE_FULL'
  | 'UNAVAILABLE'
  | 'PAGINATION_NUMBER_INVALID'
  | 'NOT_FOUND'

export class RegistryError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message)
    this.name = 'RegistryError'
  }
}

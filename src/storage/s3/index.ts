// Public face of the S3 driver.
export { APPEND_UNSUPPORTED, S3Driver, type S3DriverOptions } from './s3-driver.js'
export {
  DEFAULT_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  resolveS3Settings,
  s3StorageDriverSchema,
  UPLOAD_QUEUE_SIZE,
  type ResolveS3Options,
  type S3Settings,
  type S3StorageDriverConfig,
  type S3WriteParams,
} from '../../config/s3-driver-options.js'

export { S3Storage } from './s3-storage.js';
export { S3StorageError } from './s3-error.js';
export { isS3Url, parseS3Url, type ParsedS3Url } from './s3-url.js';
export { resolveS3Settings, s3ClientConfig, S3_DEFAULTS, type S3Settings, type ChecksumMode } from './s3-settings.js';
export { ResumableObjectStream } from './resumable-read.js';
export { storageHook } from './hooks/storage.js';

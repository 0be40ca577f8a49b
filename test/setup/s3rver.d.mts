// Types of test/setup/s3rver.mjs (plain JS, so the bench can import it without a build).
export declare const S3RVER_CREDENTIALS: Readonly<{ accessKeyId: string; secretAccessKey: string }>;
export declare const S3RVER_REGION: string;
export declare function startS3rver(directory: string): Promise<{ endpoint: string; pid: number; stop: () => Promise<void> }>;

// The bench's S3 server: s3rver (a real S3 protocol server, in JavaScript) on 127.0.0.1, started by
// test/setup/s3rver.mjs like the tests' one, plus what the bench measures about it (CPU time).
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver as startServer } from '../setup/s3rver.mjs';

export { S3RVER_CREDENTIALS, S3RVER_REGION };

/**
 * CPU seconds (user + system) that process `pid` has used so far, from /proc (Linux); null where
 * there is no /proc. Tells how much of a step's time went to s3rver rather than to strata.
 */
async function processCpuSeconds(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): utime is the 14th
    // field of the line, stime the 15th, in clock ticks.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return null;
  }
}

let ticks;
function clockTicks() {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks;
}

/**
 * Starts s3rver (see test/setup/s3rver.mjs) storing its objects under `directory`; adds
 * `directory` and `cpuSeconds()`, the CPU time s3rver has used so far (null where unreadable).
 */
export async function startS3rver(directory) {
  const server = await startServer(directory);
  return { ...server, directory, cpuSeconds: () => processCpuSeconds(server.pid) };
}

/** Creates `bucket` on the server at `endpoint`. */
export async function createBucket(endpoint, bucket) {
  // The SDK warns once per process that its 2027 releases need Node 22: noise in the bench output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // A copy: the SDK writes its bookkeeping (`$source`) into the credentials object it is given.
  const client = new S3Client({ endpoint, region: S3RVER_REGION, forcePathStyle: true, credentials: { ...S3RVER_CREDENTIALS } });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

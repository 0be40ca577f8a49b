// The bench's S3 server: s3rver (a real S3 protocol server, in JavaScript) on 127.0.0.1, run as a
// child process through test/setup/s3rver-process.mjs because it needs --openssl-legacy-provider
// (without it, paged listings answer 500) and the bench itself must not run with that flag.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

const READY_TIMEOUT_MS = 20_000;

/** s3rver accepts only this fixed key pair (and checks every signature). */
export const S3RVER_CREDENTIALS = Object.freeze({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
export const S3RVER_REGION = 'us-east-1';

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
 * Starts s3rver storing its objects under `directory` and resolves `{ endpoint, directory, pid,
 * cpuSeconds, stop }` once it listens. `cpuSeconds()` is the CPU time s3rver has used so far (null
 * where it cannot be read); `stop()` ends it and deletes `directory`; it is idempotent.
 */
export async function startS3rver(repo, directory) {
  await mkdir(directory, { recursive: true });
  const script = join(repo, 'test/setup/s3rver-process.mjs');
  // stdin stays an open pipe: s3rver-process.mjs stops when it closes, so it never outlives us.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, directory], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk.toString();
  });
  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      child.stdin.destroy();
      await rm(directory, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      child.stdout.on('data', (chunk) => {
        out += chunk.toString();
        const match = /S3RVER_READY (\d+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited (${signal ?? `code ${code}`}) before it listened: ${stderr.trim().split('\n').at(-1) ?? ''}`));
      });
    });
    return { endpoint: `http://127.0.0.1:${port}`, directory, pid: child.pid, cpuSeconds: () => processCpuSeconds(child.pid), stop };
  } catch (error) {
    await stop();
    throw error;
  }
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

// Starts s3rver, a real S3 protocol server, as a child process, for the tests (test/setup/s3-setup.ts)
// and the bench (test/bench). A child process because s3rver needs --openssl-legacy-provider
// (without it, paged listings answer 500) and neither the tests nor the bench may run with it.
// s3rver accepts only its own access key id (S3RVER) and does not check SigV4 signatures.
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const READY_TIMEOUT_MS = 20_000;
const SCRIPT = fileURLToPath(new URL('./s3rver-process.mjs', import.meta.url));

/** The key pair s3rver accepts, and the region clients sign for. */
export const S3RVER_CREDENTIALS = Object.freeze({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
export const S3RVER_REGION = 'us-east-1';

/**
 * Starts s3rver storing its objects under `directory` (created if missing) and resolves
 * `{ endpoint, pid, stop }` once it listens on 127.0.0.1. `stop()` ends it and deletes
 * `directory`; calling it again does nothing more.
 * @param {string} directory
 * @returns {Promise<{ endpoint: string, pid: number, stop: () => Promise<void> }>}
 */
export async function startS3rver(directory) {
  await mkdir(directory, { recursive: true });
  // stdin stays an open pipe: s3rver-process.mjs stops when it closes, so it never outlives us.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', SCRIPT, directory], { stdio: ['pipe', 'pipe', 'pipe'] });
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
    return { endpoint: `http://127.0.0.1:${port}`, pid: child.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// Runs a child process and measures its wall time, peak RSS and CPU time (through GNU time, which
// reads the child's rusage; Node cannot see a child's max RSS by itself).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
/** True when peak RSS (and CPU time) can be measured. */
export const canMeasureRss = existsSync(GNU_TIME);

/** Child processes still running, so a signal handler can stop them. */
const runningChildren = new Set();

/** Sends `signal` to every running child's whole process group. */
export function stopChildren(signal = 'SIGTERM') {
  for (const child of runningChildren) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Runs `command args…` and resolves `{ seconds, maxRssBytes, cpuSeconds, stdout, stderr }`
 * (cpuSeconds: user + system time of the process); rejects with the child's stderr when it exits
 * non-zero.
 */
export async function measure(command, args, { cwd, env } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-time-'));
  const rssFile = join(dir, 'rss');
  const [file, argv] = canMeasureRss
    ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, command, ...args]]
    : [command, args];
  try {
    const started = process.hrtime.bigint();
    const { code, signal, stdout, stderr } = await new Promise((resolve, reject) => {
      // Own process group: a signal must reach the measured program, not only GNU time around it.
      const child = spawn(file, argv, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      runningChildren.add(child);
      const out = [];
      const err = [];
      child.stdout.on('data', (chunk) => out.push(chunk));
      child.stderr.on('data', (chunk) => err.push(chunk));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        runningChildren.delete(child);
        resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (code !== 0) {
      const detail = (stderr.trim() || stdout.trim()).split('\n').slice(-15).join('\n');
      const error = new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${detail}`);
      error.stdout = stdout;
      error.stderr = stderr;
      throw error;
    }
    let maxRssBytes = null;
    let cpuSeconds = null;
    if (canMeasureRss) {
      // GNU time prints "Command exited with non-zero status" first on failures; the figures are last.
      const lines = (await readFile(rssFile, 'utf8')).trim().split('\n');
      const [kb, user, system] = (lines.at(-1) ?? '').trim().split(/\s+/).map(Number);
      if (Number.isFinite(kb)) maxRssBytes = kb * 1024;
      if (Number.isFinite(user) && Number.isFinite(system)) cpuSeconds = user + system;
    }
    return { seconds, maxRssBytes, cpuSeconds, stdout, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

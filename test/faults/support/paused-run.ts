// Runs the built CLI as a real process that stops at a named fault point (STRATA_TEST_PAUSE_AT),
// so a fault test can act (send a signal, kill it, cut its connection, restart the server) at an
// exact phase instead of sleeping and hoping. Shared by the signal, server-fault and kill -9 suites.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

import { CLI_ENTRY, cliEnvironment, cliResult, REPO_ROOT, type CliResult } from '../../support/cli.js';

/** The line a strata process prints on stderr when it reaches a fault point. */
export const PAUSE_MARKER = 'strata-test-paused-at';

export interface PausedRunOptions {
  /** The fault point to stop at (see FAULT_POINTS in packages/core/src/fault-point.ts). */
  point: string;
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Extra environment variables, merged over the test process's; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  /** How long to wait for the point before `reached` rejects and the process is killed (default 60 s). */
  reachTimeoutMs?: number;
  /** Kills the process (SIGKILL) after this many milliseconds in all (default 120 s). */
  timeoutMs?: number;
}

export interface PausedRun {
  /** The strata process. */
  child: ChildProcessByStdio<null, Readable, Readable>;
  /**
   * Resolves once the process printed the marker of `point` (it is then waiting there). Rejects
   * when the process ends first or the point is not reached in time: a test that never reached
   * its phase must fail, not pass by accident.
   */
  reached: Promise<void>;
  /** The outcome once the process has ended; never rejects on a non-zero exit. */
  result: Promise<CliResult>;
  /** stderr so far (for assertion messages). */
  stderr(): string;
  /** Lets the paused process go on from its point (SIGUSR2), e.g. after breaking its connection. */
  resume(): void;
}

/**
 * Starts `node packages/core/bin/run.js …args` with `STRATA_TEST_PAUSE_AT=<point>`. DEBUG is
 * removed so the output is what a user sees. `exitCode` in the result is the process's code, or
 * 128 + the signal's number when a signal ended it (as a shell reports it: 137 for SIGKILL).
 */
export function startPaused(args: string[], options: PausedRunOptions): PausedRun {
  const env = cliEnvironment({ ...options.env, STRATA_TEST_PAUSE_AT: options.point });

  const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const marker = `${PAUSE_MARKER} ${options.point}`;

  let onReached!: () => void;
  let onMissed!: (error: Error) => void;
  let settled = false;
  const reached = new Promise<void>((resolve, reject) => {
    onReached = () => {
      if (settled) return;
      settled = true;
      clearTimeout(reachTimer);
      resolve();
    };
    onMissed = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(reachTimer);
      reject(error);
    };
  });
  // A caller that only awaits `result` must not get an unhandled rejection from `reached`.
  reached.catch(() => {});

  const reachTimer = setTimeout(() => {
    onMissed(new Error(`strata ${args.join(' ')} did not reach ${options.point} within ${options.reachTimeoutMs ?? 60_000} ms.\nstderr: ${stderr}`));
    child.kill('SIGKILL');
  }, options.reachTimeoutMs ?? 60_000);
  const killTimer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);

  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.split('\n').some((line) => line.trim() === marker)) onReached();
  });

  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(killTimer);
      onMissed(error);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      onMissed(new Error(`strata ${args.join(' ')} ended (exit ${code ?? signal}) before reaching ${options.point}.\nstdout: ${stdout}\nstderr: ${stderr}`));
      resolve(cliResult(args, code, signal, stdout, stderr));
    });
  });

  return { child, reached, result, stderr: () => stderr, resume: () => void child.kill('SIGUSR2') };
}

/**
 * Starts a paused run, waits for its point, sends `signal` and returns how the process ended.
 * Rejects when the point is never reached.
 */
export async function signalAt(args: string[], options: PausedRunOptions & { signal: NodeJS.Signals }): Promise<CliResult> {
  const run = startPaused(args, options);
  await run.reached;
  run.child.kill(options.signal);
  return run.result;
}

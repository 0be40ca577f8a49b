// A strata CLI process held at a fault point (STRATA_TEST_PAUSE_AT), for tests that act while it
// is there: kill it outright, interrupt it, or let it go on (SIGUSR2) once the other side is done.
import { spawn, type ChildProcess } from 'node:child_process';

import { CLI_ENTRY, cliEnvironment, cliResult, REPO_ROOT, type CliResult, type RunOptions } from './cli.js';

export interface StrataProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves once the process reports it is paused at its point; rejects if it ends first. */
  paused(): Promise<void>;
  /** Lets the paused process go on as if it had never stopped. */
  resume(): void;
  /** Sends `signal` (SIGKILL by default) and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<CliResult>;
  /** The outcome, once the process has ended. */
  readonly done: Promise<CliResult>;
}

/**
 * Starts `strata …args` with `STRATA_TEST_PAUSE_AT=<pauseAt>`. The process is killed after
 * `timeoutMs` (default 120 s) whatever happens, so a test that fails never leaves it behind.
 */
export function startStrata(args: string[], pauseAt: string, options: RunOptions = {}): StrataProcess {
  const env = cliEnvironment({ STRATA_TEST_PAUSE_AT: pauseAt, ...options.env });
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], { cwd: options.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onPaused: (() => void) | undefined;
  let isPaused = false;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (!isPaused && stderr.includes(`strata-test-paused-at ${pauseAt}`)) {
      isPaused = true;
      onPaused?.();
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(cliResult(args, code, signal, stdout, stderr));
    });
  });
  return {
    child,
    pid: child.pid!,
    done,
    paused() {
      if (isPaused) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        onPaused = resolve;
        void done.then((result) => {
          if (!isPaused) reject(new Error(`strata ${args.join(' ')} ended before pausing at ${pauseAt}: exit ${result.exitCode}\nstdout: ${stdout}\nstderr: ${stderr}`));
        });
      });
    },
    resume() {
      child.kill('SIGUSR2');
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      child.kill(signal);
      return done;
    },
  };
}

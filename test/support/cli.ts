import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the repository. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI's entry point (`npm test` builds before running the tests). */
export const CLI_ENTRY = path.join(REPO_ROOT, 'packages/core/bin/run.js');

/** Outcome of one CLI run. */
export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for `--json` runs); throws with the output when it is not JSON. */
  json<T = any>(): T;
}

export interface RunOptions {
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Extra environment variables, merged over the test process's environment. */
  env?: Record<string, string | undefined>;
  /** Kills the process after this many milliseconds (default 90 s). */
  timeoutMs?: number;
}

/**
 * Runs `node packages/core/bin/run.js …args` as a subprocess and collects its output. Never
 * rejects on a non-zero exit: tests assert on `exitCode`. DEBUG is removed from the environment
 * so error output is what a user sees.
 */
export function runStrata(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const env = cliEnvironment(options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve(cliResult(args, code, signal, stdout, stderr));
    });
  });
}

/** A readable summary of a run, for assertion messages. */
export function describeRun(result: CliResult): string {
  return `exit ${result.exitCode}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/**
 * The environment a strata subprocess runs with: the test process's, without colour and without
 * DEBUG (so error output is what a user sees), with `extra` merged over it (undefined removes).
 */
export function cliEnvironment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.DEBUG;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** The outcome of an ended strata subprocess; a process killed by a signal exits 128 + its number, as a shell reports it. */
export function cliResult(args: string[], code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): CliResult {
  return {
    exitCode: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1),
    stdout,
    stderr,
    json<T>(): T {
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new Error(`strata ${args.join(' ')} did not print JSON (exit ${code ?? signal}).\nstdout: ${stdout}\nstderr: ${stderr}`);
      }
    },
  };
}

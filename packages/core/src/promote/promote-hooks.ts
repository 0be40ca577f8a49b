import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type { HookStep } from '../config/hooks-config.js';
import { isConnectionLoss } from '../db/connection-loss.js';
import { driverFor } from '../db/drivers.js';
import { StrataError } from '../errors.js';

/** A promotion hook failed: the promotion stopped there. */
export class HookError extends StrataError {
  override readonly exitCode = 7;
}

/** What a hook sees: the database it concerns, the snapshot and the environment. */
export interface HookContext {
  /** The database the step works on (`STRATA_DATABASE_URL`). */
  databaseUrl: string;
  /**
   * The database's name as everyone else will see it (`STRATA_DATABASE_NAME`, and
   * `current_setting('strata.database_name')` in a SQL file): for `afterRestore`, the name the
   * restored database takes once every step passed. Until then it is reached under a temporary
   * name, so no application reads its rows before the steps (a scrub, say) are done.
   */
  databaseName: string;
  snapshotId: string;
  environment: string;
  /** Directory SQL files are relative to (the config's). */
  baseDir: string;
  signal?: AbortSignal;
}

/** A step as people read it in messages: `hooks.afterRestore[1] (sql scrub.sql)`. */
export function describeStep(phase: string, index: number, step: HookStep): string {
  const file = sqlFileOf(step);
  const kind = file !== undefined ? `sql ${file}` : `run ${commandOf(step)}`;
  return `hooks.${phase}[${index}] (${kind})`;
}

/** Runs the steps in order; the first that fails stops the rest with a `HookError` naming it. */
export async function runHooks(phase: 'beforeRestore' | 'afterRestore', steps: HookStep[] | undefined, ctx: HookContext, log?: (message: string) => void): Promise<string[]> {
  const ran: string[] = [];
  for (const [index, step] of (steps ?? []).entries()) {
    const name = describeStep(phase, index, step);
    log?.(`Running ${name}.`);
    try {
      const file = sqlFileOf(step);
      if (file !== undefined) await runSql(path.resolve(ctx.baseDir, file), ctx.databaseUrl, ctx.databaseName);
      else await runCommand(commandOf(step), ctx);
    } catch (error) {
      // A lost database session is not the hook failing: it keeps its own sentence and exit code.
      if (error instanceof StrataError && error.code === 'database-connection-lost') throw error;
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new HookError(`The promotion stopped: ${name} failed: ${reason}`.replace(/\.?$/, '.'), {
        code: 'hook-failed',
        hint: `Fix the ${phase} hook of environment "${ctx.environment}" and promote again${phase === 'afterRestore' ? '; the restored database was dropped' : '; nothing was restored'}.`,
        cause: error,
      });
    }
    ran.push(name);
  }
  return ran;
}

function sqlFileOf(step: HookStep): string | undefined {
  if (typeof step === 'string') return step.trim().toLowerCase().endsWith('.sql') ? step.trim() : undefined;
  return 'sql' in step ? step.sql : undefined;
}

function commandOf(step: HookStep): string {
  return typeof step === 'string' ? step : 'run' in step ? step.run : '';
}

async function runSql(file: string, databaseUrl: string, databaseName: string): Promise<void> {
  let sql: string;
  try {
    sql = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const driver = driverFor(databaseUrl);
  const client = await driver.connect(databaseUrl);
  try {
    // One simple-protocol query (the file may hold several statements, run in one transaction),
    // so the name goes in as a literal, its quotes doubled, not as a parameter.
    const name = databaseName.replaceAll("'", "''");
    await client.query(`BEGIN;\nSELECT set_config('strata.database_name', '${name}', true);\n${sql}\n;COMMIT;`);
  } catch (error) {
    // The server going away is not the hook's fault: it is a database failure (exit 3), like anywhere else.
    if (isConnectionLoss(error)) throw driver.translateError(error, databaseUrl, 'run a hook on');
    throw new Error(`${(error as Error).message} (in database ${databaseName})`);
  } finally {
    await client.close({ force: true });
  }
}

/** Runs a shell command in the config's directory with STRATA_DATABASE_URL, STRATA_DATABASE_NAME, STRATA_SNAPSHOT_ID and STRATA_ENV set; its output goes to stderr. */
async function runCommand(command: string, ctx: HookContext): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, {
      shell: true,
      // Like SQL files, commands are relative to the config's directory, wherever strata runs from.
      cwd: ctx.baseDir,
      stdio: ['ignore', process.stderr, process.stderr],
      env: { ...process.env, STRATA_DATABASE_URL: ctx.databaseUrl, STRATA_DATABASE_NAME: ctx.databaseName, STRATA_SNAPSHOT_ID: ctx.snapshotId, STRATA_ENV: ctx.environment },
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    child.once('error', (error) => reject(new Error(`could not start: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(signal ? `ended by ${signal}` : `exited with code ${code}`));
    });
  });
}

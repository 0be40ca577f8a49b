import type { LoadedConfig, ResolvedEnvironment } from '../config/config-loader.js';
import type { StorageDriver } from '../contracts/storage.js';
import { driverFor } from '../db/drivers.js';
import { environmentPrefix } from '../format/manifest-io.js';
import { migrationStatus } from '../migrations/migration-runner.js';
import { checkPlugins, describeType, type InstalledPlugin } from '../plugins/plugin-check.js';

/** One line of the report. */
export interface DoctorCheck {
  check: 'config' | 'plugins' | 'database' | 'server' | 'migrations' | 'storage';
  /** `warn` is worth knowing (pending migrations) and does not fail the run. */
  status: 'ok' | 'warn' | 'fail' | 'skipped';
  detail: string;
}

export interface DoctorReport {
  ok: boolean;
  environment?: string;
  checks: DoctorCheck[];
}

/** What the checks need; the caller owns config loading, plugin lookup and storage drivers. */
export interface DoctorInputs {
  /** Loads the config and picks the environment; a throw is the `config` check failing. */
  load: () => Promise<{ config: LoadedConfig; env: ResolvedEnvironment }>;
  /** The installed plugins, for the `plugins` check. */
  installedPlugins: () => InstalledPlugin[];
  /** Package name of the CLI itself, left out of the plugin list. */
  selfName?: string;
  /** Opens the environment's storage (through its storage plugin). */
  openStorage: (config: LoadedConfig, env: ResolvedEnvironment) => Promise<StorageDriver>;
  /** Called with each check as it completes (the CLI prints a line). */
  onCheck?: (check: DoctorCheck) => void;
  /** Applied to each detail before it is recorded (the CLI removes secrets). */
  scrub?: (text: string) => string;
}

/** The outcome: the report, and for a failed run the exit code of the first failure's domain. */
export interface DoctorOutcome {
  report: DoctorReport;
  /** 0 when every check passed or warned; else 2 config, 3 database, 4 storage, 6 missing migrations… */
  exitCode: number;
}

/**
 * Checks an environment's config, plugins, database, server version, migrations and storage. Reads
 * only. A check that fails never stops the others (those that need it are `skipped`).
 */
export async function runDoctor(inputs: DoctorInputs): Promise<DoctorOutcome> {
  const scrub = inputs.scrub ?? ((text: string) => text);
  const checks: DoctorCheck[] = [];
  const failures: unknown[] = [];
  const record = (check: DoctorCheck['check'], outcome: { status: DoctorCheck['status']; detail: string }): void => {
    const line = { check, ...outcome, detail: scrub(outcome.detail) };
    checks.push(line);
    inputs.onCheck?.(line);
  };
  const fail = (check: DoctorCheck['check'], error: unknown): void => {
    failures.push(error);
    record(check, { status: 'fail', detail: describe(error) });
  };

  let config: LoadedConfig | undefined;
  let env: ResolvedEnvironment | undefined;
  try {
    ({ config, env } = await inputs.load());
    record('config', { status: 'ok', detail: `${config.configPath}: project ${config.project}, environment ${env.name}, ${Object.keys(config.modules).length} module(s)` });
  } catch (error) {
    fail('config', error);
  }

  if (!config || !env) {
    for (const check of ['plugins', 'database', 'server', 'migrations', 'storage'] as const) record(check, { status: 'skipped', detail: 'needs a valid config' });
  } else {
    try {
      const installed = inputs.installedPlugins();
      checkPlugins(env.name, env.plugins, installed);
      const strataPlugins = installed.filter((p) => p.name.includes('strata'));
      record('plugins', { status: 'ok', detail: strataPlugins.filter((p) => p.name !== inputs.selfName).map((p) => `${p.name} ${p.version} (${describeType(p.type)})`).join(', ') });
    } catch (error) {
      fail('plugins', error);
    }

    const driver = driverFor(env.databaseUrl);
    const { server, database } = driver.describe(env.databaseUrl);
    let reachable = false;
    try {
      const client = await driver.connect(env.databaseUrl);
      try {
        const { rows } = await client.query<{ version: string }>("SELECT current_setting('server_version') AS version");
        reachable = true;
        record('database', { status: 'ok', detail: `${database} on ${server}` });
        record('server', { status: 'ok', detail: `PostgreSQL ${rows[0]?.version ?? 'unknown'}` });
      } finally {
        await client.close();
      }
    } catch (error) {
      fail('database', driver.translateError(error, env.databaseUrl, 'read from'));
      record('server', { status: 'skipped', detail: 'needs the database' });
    }

    if (reachable) {
      try {
        const loaded = config;
        const statuses = await driver.withKnex(env.databaseUrl, (knex) => migrationStatus(knex, loaded));
        const pending = statuses.filter((s) => s.pending.length > 0);
        const missing = statuses.filter((s) => s.missing.length > 0);
        if (missing.length > 0) {
          record('migrations', {
            status: 'fail',
            detail: `applied but missing from the code: ${missing.map((s) => `${s.module}:${s.missing[0]}`).join(', ')}`,
          });
          failures.push({ exitCode: 6 });
        } else if (pending.length > 0) {
          record('migrations', { status: 'warn', detail: `${pending.reduce((n, s) => n + s.pending.length, 0)} pending (${pending.map((s) => `${s.module}: ${s.pending.length}`).join(', ')}); run \`strata migrate up\`` });
        } else {
          record('migrations', { status: 'ok', detail: `all ${statuses.length} module(s) up to date` });
        }
      } catch (error) {
        fail('migrations', error);
      }
    } else {
      record('migrations', { status: 'skipped', detail: 'needs the database' });
    }

    try {
      const storage = await inputs.openStorage(config, env);
      let count = 0;
      for await (const _ of storage.listChildren(environmentPrefix(config.project, env.name))) count++;
      record('storage', { status: 'ok', detail: `${storage.location} (${count} snapshot folder${count === 1 ? '' : 's'} for ${config.project}/${env.name})` });
    } catch (error) {
      fail('storage', error);
    }
  }

  const report: DoctorReport = { ok: failures.length === 0, ...(env ? { environment: env.name } : {}), checks };
  const first = failures[0] as { exitCode?: unknown } | undefined;
  const exitCode = !first ? 0 : typeof first.exitCode === 'number' ? first.exitCode : 1;
  return { report, exitCode };
}

function describe(error: unknown): string {
  const e = error as { message?: string; hint?: string };
  const message = (e.message ?? String(error)).split('\n')[0]!;
  return e.hint ? `${message} ${e.hint}` : message;
}

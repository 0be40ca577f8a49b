import { BaseCommand } from '../base-command.js';
import { loadConfig, type LoadedConfig, type ResolvedEnvironment } from '../config/config-loader.js';
import { driverFor } from '../db/drivers.js';
import { StrataError } from '../errors.js';
import { environmentPrefix } from '../format/manifest-io.js';
import { migrationStatus } from '../migrations/migration-runner.js';
import { checkPlugins, describeType } from '../plugins/plugin-check.js';

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

const MARK: Record<DoctorCheck['status'], string> = { ok: '✓', warn: '!', fail: '✗', skipped: '-' };

/** The first failure's exit code (its domain: 2 config, 3 database, 4 storage…) ends the run. */
class DoctorFailed extends StrataError {
  override readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message, { code: 'doctor-failed', hint: 'Fix the lines marked ✗ (each says what is wrong), then run `strata doctor` again.' });
    this.exitCode = exitCode;
  }
}

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override summary = "Check an environment's config, plugins, database, server version, migrations and storage, one line each.";

  static override description =
    'Reads only: it connects to the database, lists the storage and compares the migrations with the code. Exits non-zero when a check fails (pending migrations are a warning).';

  static override examples = [
    { description: 'Check dev.', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Check prod from a CI job, as JSON.', command: '<%= config.bin %> <%= command.id %> --env prod --json' },
  ];

  async run(): Promise<DoctorReport> {
    const checks: DoctorCheck[] = [];
    const failures: unknown[] = [];
    const record = (check: DoctorCheck['check'], outcome: { status: DoctorCheck['status']; detail: string }): void => {
      checks.push({ check, ...outcome, detail: this.scrub(outcome.detail) });
      this.log(`${MARK[outcome.status]} ${check.padEnd(10)} ${this.scrub(outcome.detail)}`);
    };
    const fail = (check: DoctorCheck['check'], error: unknown): void => {
      failures.push(error);
      record(check, { status: 'fail', detail: describe(error) });
    };

    let config: LoadedConfig | undefined;
    let env: ResolvedEnvironment | undefined;
    try {
      const flags = this.flags as { config?: string; env?: string };
      config = await loadConfig(flags.config === undefined ? {} : { configPath: flags.config });
      env = this.pickEnvironment(config, flags.env, { checkPlugins: false });
      record('config', { status: 'ok', detail: `${config.configPath}: project ${config.project}, environment ${env.name}, ${Object.keys(config.modules).length} module(s)` });
    } catch (error) {
      fail('config', error);
    }

    if (!config || !env) {
      for (const check of ['plugins', 'database', 'server', 'migrations', 'storage'] as const) record(check, { status: 'skipped', detail: 'needs a valid config' });
    } else {
      try {
        const installed = this.installedPlugins();
        checkPlugins(env.name, env.plugins, installed);
        const strataPlugins = installed.filter((p) => p.name.includes('strata'));
        record('plugins', { status: 'ok', detail: strataPlugins.filter((p) => p.name !== this.config.name).map((p) => `${p.name} ${p.version} (${describeType(p.type)})`).join(', ') });
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
          const statuses = await driver.withKnex(env.databaseUrl, (knex) => migrationStatus(knex, config!));
          const pending = statuses.filter((s) => s.pending.length > 0);
          const missing = statuses.filter((s) => s.missing.length > 0);
          if (missing.length > 0) {
            record('migrations', {
              status: 'fail',
              detail: `applied but missing from the code: ${missing.map((s) => `${s.module}:${s.missing[0]}`).join(', ')}`,
            });
            failures.push(new DoctorFailed('missing migrations', 6));
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
        const ctx = await this.loadContext({ config, env });
        let count = 0;
        for await (const _ of ctx.storage.listChildren(environmentPrefix(config.project, env.name))) count++;
        record('storage', { status: 'ok', detail: `${ctx.storage.location} (${count} snapshot folder${count === 1 ? '' : 's'} for ${config.project}/${env.name})` });
      } catch (error) {
        fail('storage', error);
      }
    }

    const report: DoctorReport = { ok: failures.length === 0, ...(env ? { environment: env.name } : {}), checks };
    if (failures.length > 0) {
      this.partialResult = { ...report };
      const failed = checks.filter((c) => c.status === 'fail').map((c) => c.check);
      const first = failures[0] as { exitCode?: unknown };
      throw new DoctorFailed(`${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.join(', ')}.`, typeof first.exitCode === 'number' ? first.exitCode : 1);
    }
    return report;
  }
}

function describe(error: unknown): string {
  const e = error as { message?: string; hint?: string };
  const message = (e.message ?? String(error)).split('\n')[0]!;
  return e.hint ? `${message} ${e.hint}` : message;
}

import { BaseCommand } from '../base-command.js';
import { loadConfig } from '../config/config-loader.js';
import { runDoctor, type DoctorCheck, type DoctorReport } from '../doctor/doctor.js';
import { StrataError } from '../errors.js';

export type { DoctorCheck, DoctorReport } from '../doctor/doctor.js';

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
    const flags = this.flags as { config?: string; env?: string };
    const { report, exitCode } = await runDoctor({
      load: async () => {
        const config = await loadConfig(flags.config === undefined ? {} : { configPath: flags.config });
        return { config, env: this.pickEnvironment(config, flags.env, { checkPlugins: false }) };
      },
      installedPlugins: () => this.installedPlugins(),
      selfName: this.config.name,
      openStorage: async (config, env) => (await this.loadContext({ config, env })).storage,
      onCheck: (c) => this.log(`${MARK[c.status]} ${c.check.padEnd(10)} ${c.detail}`),
      scrub: (text) => this.scrub(text),
    });
    if (!report.ok) {
      this.partialResult = { ...report };
      const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.check);
      throw new DoctorFailed(`${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.join(', ')}.`, exitCode);
    }
    return report;
  }
}

import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { parseDuration } from '../cli/duration.js';
import { ConfigError } from '../errors.js';
import { describeScope, formatBytes, formatCount, formatDuration, splitListFlag } from '../cli/text-format.js';
import { snapshot } from '../snapshot/snapshot-capture.js';
import type { SnapshotResult } from '../snapshot/snapshot-types.js';

export default class Snapshot extends BaseCommand<typeof Snapshot> {
  static override summary = "Capture the environment's database into a new snapshot.";

  static override description = `Reads every table and each module's migration state in one consistent transaction and streams them to the environment's storage. Prints the new snapshot's id on stdout.

--scope captures one tenant (or several) of a scope the config defines: its root rows, every row that belongs to them through foreign keys, every row those rows point at, and the scope's shared tables whole; tables nothing reaches are left out. References into other tenants' rows are reported as warnings. --tables and --modules capture whole tables instead.`;

  static override examples = [
    { description: 'Snapshot dev.', command: '<%= config.bin %> <%= command.id %>' },
    {
      description: 'Snapshot prod with a description and tags.',
      command: '<%= config.bin %> <%= command.id %> --env prod --description "before the 2.0 release" --tag release --tag v2',
    },
    { description: 'Keep the id for a later restore.', command: 'ID=$(<%= config.bin %> <%= command.id %> --env prod)' },
    { description: 'A nightly backup that rides out a short outage (retries after 60 s, 120 s, 240 s).', command: '<%= config.bin %> <%= command.id %> --env prod --retries 3 --retry-delay 60s' },
    { description: 'A snapshot of prod that is safe to hand to developers.', command: '<%= config.bin %> <%= command.id %> --env prod --anonymize --tag anonymized' },
    { description: "One company's data (scope company in the config), to reproduce a bug on staging.", command: '<%= config.bin %> <%= command.id %> --env prod --scope company=Acme --anonymize' },
    { description: 'Two companies at once.', command: '<%= config.bin %> <%= command.id %> --env prod --scope company=Acme --scope company=Globex' },
    { description: 'Only two tables, whole.', command: '<%= config.bin %> <%= command.id %> --tables customers,orders' },
    { description: "Only the tables of the billing module's migrations.", command: '<%= config.bin %> <%= command.id %> --modules billing' },
  ];

  static override flags = {
    description: Flags.string({ summary: 'A note stored with the snapshot.', helpValue: 'TEXT' }),
    tag: Flags.string({ summary: 'A tag stored with the snapshot; repeat for several.', helpValue: 'TAG', multiple: true, multipleNonGreedy: true }),
    anonymize: Flags.boolean({
      summary: "Mask personal data while rows stream, with the config's anonymize rules (needs @strata/plugin-anonymize); the manifest records it.",
      default: false,
    }),
    retries: Flags.integer({
      summary: 'Try a failed capture again up to N times (server or storage unreachable); each failed attempt is cleaned up, and notify hears once, after the last.',
      min: 0,
      default: 0,
      helpValue: 'N',
    }),
    'retry-delay': Flags.string({
      summary: 'Wait before the first retry, doubled for each next one (60s, 120s, 240s…).',
      default: '60s',
      helpValue: 'DURATION',
    }),
    scope: Flags.string({
      summary: "Capture only a tenant: NAME is a scope of the config, VALUE its root row's key; repeat for several tenants of the same scope.",
      helpValue: 'NAME=VALUE',
      multiple: true,
      multipleNonGreedy: true,
    }),
    tables: Flags.string({
      summary: 'Capture only these tables (table or schema.table), whole; comma-separated or repeated.',
      helpValue: 'TABLES',
      multiple: true,
      multipleNonGreedy: true,
    }),
    modules: Flags.string({
      summary: "Capture only the tables these modules' migrations create, whole; comma-separated or repeated.",
      helpValue: 'MODULES',
      multiple: true,
      multipleNonGreedy: true,
    }),
  };

  async run(): Promise<SnapshotResult> {
    const retryDelayMs = parseDuration(this.flags['retry-delay']);
    if (retryDelayMs === undefined) {
      throw new ConfigError(`--retry-delay ${this.flags['retry-delay']} is not a duration.`, {
        code: 'invalid-arguments',
        hint: 'Give a number with s, m or h, e.g. --retry-delay 60s.',
      });
    }
    const scope = this.flags.scope ? parseScope(this.flags.scope) : undefined;
    const tables = splitListFlag(this.flags.tables ?? []);
    const modules = splitListFlag(this.flags.modules ?? []);
    if (scope && (tables.length > 0 || modules.length > 0)) {
      throw new ConfigError('--scope cannot be combined with --tables or --modules.', {
        code: 'invalid-arguments',
        hint: 'Capture a tenant with --scope, or whole tables with --tables/--modules, in separate snapshots.',
      });
    }
    const loaded = await this.loadEnvironment();
    this.notification = { operation: 'snapshot', ...loaded };
    const transformer = this.flags.anonymize ? await this.resolveAnonymizer(loaded.config, loaded.env) : undefined;
    const ctx = await this.loadContext(loaded);
    const result = await snapshot({
      ...ctx,
      description: this.flags.description,
      tags: this.flags.tag ?? [],
      retries: this.flags.retries,
      retryDelayMs,
      ...(scope ? { scope } : {}),
      ...(tables.length > 0 ? { tables } : {}),
      ...(modules.length > 0 ? { modules } : {}),
      ...(transformer ? { transformer } : {}),
    });
    const rows = result.manifest.tables.reduce((n, t) => n + t.rows, 0);
    const bytes = result.manifest.tables.reduce((n, t) => n + t.bytes, 0);
    this.notification.report = { snapshotId: result.id, database: result.manifest.source.database, tables: result.manifest.tables.length, rows, bytes };
    this.logToStderr(
      `Snapshot of ${result.manifest.source.database} (${ctx.env.name}): ${result.manifest.tables.length} tables, ${formatCount(rows)} rows, ` +
        `${formatBytes(bytes)} in ${formatDuration(result.durationMs)} at ${result.location}${transformer ? ` (anonymized by ${transformer.name})` : ''}`,
    );
    const held = result.manifest.scope;
    if (held) {
      const crossTenant = held.kind === 'tenant' && held.crossTenant.length > 0 ? `; ${held.crossTenant.length} cross-tenant reference${held.crossTenant.length > 1 ? 's' : ''} (see the warnings)` : '';
      this.logToStderr(`Scope: ${describeScope(held)}${crossTenant}`);
    }
    this.log(result.id);
    return result;
  }
}

/** `--scope company=Acme --scope company=Globex` → one scope and its values; every flag must name the same scope. */
function parseScope(flags: string[]): { name: string; values: string[] } {
  const parsed = flags.map((flag) => {
    const at = flag.indexOf('=');
    if (at <= 0 || at === flag.length - 1) {
      throw new ConfigError(`--scope ${flag} is not NAME=VALUE.`, {
        code: 'invalid-arguments',
        hint: 'Name a scope of the config and the key of its root row, e.g. --scope company=Acme.',
      });
    }
    return { name: flag.slice(0, at), value: flag.slice(at + 1) };
  });
  const names = [...new Set(parsed.map((p) => p.name))];
  if (names.length > 1) {
    throw new ConfigError(`The --scope flags name several scopes (${names.join(', ')}).`, {
      code: 'scope-mixed',
      hint: 'One snapshot captures tenants of one scope: repeat --scope with the same name, e.g. --scope company=Acme --scope company=Globex.',
    });
  }
  return { name: names[0]!, values: parsed.map((p) => p.value) };
}

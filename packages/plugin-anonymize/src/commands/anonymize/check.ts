import { Flags } from '@oclif/core';
import { showSnapshot, withCapturedSchema } from '@strata/core';
import { BaseCommand, renderTable } from '@strata/core/command';

import { checkAnonymization, checkFailed, readCheckRules, type CheckReport } from '../../anonymize-check.js';

export type { CheckReport, CoveredTarget, RuleProblem, UnruledColumn } from '../../anonymize-check.js';

export default class AnonymizeCheck extends BaseCommand<typeof AnonymizeCheck> {
  static override summary = 'Check the anonymize rules against the schema: personal-looking columns without a rule, rules that match nothing.';

  static override description = `Compares the rules of the config's anonymize section with the tables a snapshot of the environment captures: the live database's schema, or with --snapshot the columns a snapshot's manifest records. It fails (exit code 2) when

  - a column looks personal (by its name or type: email, phone, name parts, address, birth date, IP address, IBAN, card number, national id, password, token, secret…) and has no rule, or
  - a rule names a table or column that does not exist, or cannot apply (a key column without "key": true, a type the transformer cannot write…).

A column that looks personal but is not (or that you decided to keep) passes with the rule "keep": it is copied as it is and counts as covered. Columns of tables the rules truncate and of tables the config's exclude leaves out are not reported.

Meant as a CI step after migrations: it reads no rows, only the catalog, inside a read-only transaction, and it never reads the salt, so CI needs no secret. Exit codes: 0 all covered; 2 a gap or a bad rule (--json prints the whole report with the error); 3 the database cannot be read; 4 the snapshot cannot be read.`;

  static override examples = [
    { description: 'Check the rules against the dev database.', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'In CI, against the database the migrations just ran on, as JSON.', command: '<%= config.bin %> <%= command.id %> --env ci --json' },
    {
      description: "Check the rules against the columns of prod's newest snapshot (before restoring it with --anonymize).",
      command: '<%= config.bin %> <%= command.id %> --env prod --snapshot latest',
    },
  ];

  static override flags = {
    snapshot: Flags.string({
      summary: "Compare with a snapshot's columns (id or `latest`) instead of the live database.",
      helpValue: 'ID',
    }),
  };

  async run(): Promise<CheckReport> {
    const loaded = await this.loadEnvironment();
    const rules = await readCheckRules((loaded.config as unknown as Record<string, unknown>).anonymize);
    const { report, warnings } =
      this.flags.snapshot === undefined
        ? await withCapturedSchema(loaded.env.databaseUrl, loaded.config, (view) => checkAnonymization(rules, { kind: 'database', ...view }))
        : await checkAnonymization(rules, { kind: 'snapshot', manifest: await showSnapshot(await this.loadContext(loaded), this.flags.snapshot) });
    for (const warning of warnings) this.note('warn', warning);

    this.render(report);
    if (!report.ok) {
      this.partialResult = report as unknown as Record<string, unknown>;
      throw checkFailed(report);
    }
    return report;
  }

  private render(report: CheckReport): void {
    if (this.jsonEnabled()) return;
    const source = report.source.kind === 'database' ? `database ${report.source.database}` : `snapshot ${report.source.id} of ${report.source.environment}`;
    this.log(`Checked the anonymize rules against ${source}: ${report.tables} tables, ${report.columns} columns.`);
    if (report.unruled.length > 0) {
      this.log(`\nPersonal-looking columns without a rule (${report.unruled.length}):`);
      this.log(
        renderTable(
          [{ header: 'COLUMN' }, { header: 'TYPE' }, { header: 'WHY' }, { header: 'SUGGESTED RULE' }],
          report.unruled.map((u) => [`${u.table}.${u.column}`, u.type, u.reason, `"${u.suggestion}"`]),
        ),
      );
    }
    if (report.ruleProblems.length > 0) {
      this.log(`\nRules that do not fit the schema (${report.ruleProblems.length}):`);
      for (const p of report.ruleProblems) this.log(`  ${p.message}${p.hint ? ` ${p.hint}` : ''}`);
    }
    this.log(`\nCovered by a rule (${report.covered.length}):`);
    if (report.covered.length > 0) {
      this.log(
        renderTable(
          [{ header: 'TARGET' }, { header: 'RULE' }, { header: 'NOTE' }],
          report.covered.map((c) => [c.target, c.rule, c.propagatedFrom ? `key rule of ${c.propagatedFrom}` : c.personal ? '' : 'does not look personal']),
        ),
      );
    }
    if (report.excluded.length > 0) this.log(`\nNot checked (excluded from snapshots): ${report.excluded.join(', ')}.`);
    if (report.ok) this.logToStderr('Every personal-looking column has a rule, and every rule fits the schema.');
  }
}

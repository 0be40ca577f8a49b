import { Args } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { describeScope, formatBytes, formatCount, formatTimestamp, renderTable } from '../cli/text-format.js';
import { isAnonymized, type Manifest } from '../format/manifest-schema.js';
import { showSnapshot } from '../snapshot/snapshot-catalog.js';
import { describeRecipients } from '../snapshot/snapshot-encryption.js';

export default class Show extends BaseCommand<typeof Show> {
  static override summary = "Show a snapshot's manifest: source, modules with their last migration, tables.";

  static override examples = [
    { description: 'The newest snapshot of dev.', command: '<%= config.bin %> <%= command.id %> latest' },
    { description: 'One snapshot of prod, as JSON (the whole manifest).', command: '<%= config.bin %> <%= command.id %> 01J5Y8Q4ZKX3M6T2V9B0C1D2E3 --env prod --json' },
  ];

  static override args = {
    id: Args.string({ description: 'Snapshot id, or `latest`.', required: true }),
  };

  async run(): Promise<Manifest> {
    const ctx = await this.loadContext();
    const manifest = await showSnapshot(ctx, this.args.id);
    const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
    const bytes = manifest.tables.reduce((n, t) => n + t.bytes, 0);
    const source = [`database ${manifest.source.database}`, manifest.source.host ? `on ${manifest.source.host}` : '', `(PostgreSQL ${manifest.source.serverVersion})`];
    const about: [string, string][] = [
      ['Snapshot', `${manifest.id} of ${manifest.project}/${manifest.environment}`],
      ['Created', `${formatTimestamp(manifest.createdAt)} UTC by ${manifest.createdBy}, strata ${manifest.strataVersion}, format ${manifest.formatVersion}`],
      ['Source', source.filter(Boolean).join(' ')],
      ['Contents', `${manifest.tables.length} tables, ${formatCount(rows)} rows, ${formatBytes(bytes)}`],
      // Manifests before 1.4 record no level (strata wrote gzip level 1 then).
      ['Compression', manifest.data.level === undefined ? manifest.data.compression : `${manifest.data.compression} level ${manifest.data.level}`],
    ];
    if (manifest.description) about.push(['Description', manifest.description]);
    if (manifest.tags.length > 0) about.push(['Tags', manifest.tags.join(', ')]);
    if (manifest.excluded.length > 0) about.push(['Excluded', manifest.excluded.join(', ')]);
    about.push(['Anonymized', isAnonymized(manifest) ? 'yes' : 'no']);
    about.push(['Encrypted', manifest.encryption ? `yes, age, ${describeRecipients(manifest)}` : 'no']);
    for (const t of manifest.transformers) {
      const rules = Object.entries(t.rules ?? {}).map(([target, rule]) => `${target}: ${rule}`);
      about.push(['Transformer', `${t.name} ${t.version}, rules ${t.rulesHash.slice(0, 12)}${rules.length > 0 ? ` (${rules.join(', ')})` : ''}`]);
    }
    const scope = manifest.scope;
    if (scope) about.push(['Scope', describeScope(scope)!]);
    if (scope?.kind === 'tenant') {
      for (const c of scope.crossTenant) {
        about.push([
          'Cross-tenant',
          `${c.table} (${c.columns.join(', ')}) → ${c.references}: ${formatCount(c.rows)} rows, ${c.action === 'nulled' ? 'reference set to NULL' : 'rows left out'}`,
        ]);
      }
    }
    const width = Math.max(...about.map(([k]) => k.length));

    this.log(about.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
    this.log('');
    this.log(
      renderTable(
        [{ header: 'MODULE' }, { header: 'APPLIED', align: 'right' }, { header: 'LAST MIGRATION' }],
        Object.entries(manifest.modules).map(([name, m]) => [name, String(m.applied.length), m.last ?? '-']),
      ),
    );
    this.log('');
    this.log(
      renderTable(
        [{ header: 'TABLE' }, { header: 'ROWS', align: 'right' }, { header: 'SIZE', align: 'right' }],
        manifest.tables.map((t) => [`${t.schema}.${t.name}`, formatCount(t.rows), formatBytes(t.bytes)]),
      ),
    );
    return manifest;
  }
}

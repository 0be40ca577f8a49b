// The bench's result tables: every figure next to the target it is checked against.

/**
 * capture/load: strata against pg_dump/pg_restore; s3Ratio: strata through S3 against the same
 * strata step on file:// (issue 3); anonymizeRatio: `snapshot --anonymize` (three masked columns
 * on the largest table) against the plain strata snapshot of the same run (issue 4); scopeRatio:
 * `snapshot --scope` of one company out of 100 against the full capture of the same database
 * (issue 6); rssBytes: peak RSS of any strata process; rssGrowth: strata's peak RSS at every size
 * against the smallest size's.
 */
export const TARGETS = {
  captureRatio: 1.5,
  loadRatio: 1.5,
  s3Ratio: 1.3,
  anonymizeRatio: 1.5,
  scopeRatio: 0.2,
  rssBytes: 200 * 1024 * 1024,
  rssGrowth: 0.2,
};

export const mb = (bytes) => {
  if (bytes == null) return 'n/a';
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`;
};
export const secs = (s) => (s == null ? '—' : s.toFixed(2));
const check = (ok) => (ok ? 'ok' : 'MISSED');
const ratio = (s, base) => (s == null || base == null ? '' : `${(s / base).toFixed(2)}×`);

/**
 * A strata row: time, ratio against its baseline, peak RSS, output size, and the targets checked:
 * the ratio (when `targetRatio` is given; `baselineName` names the baseline) and peak RSS.
 */
function strataRow(label, step, baseline, targetRatio, baselineName) {
  const ratioTarget = targetRatio == null ? null : `≤ ${targetRatio}× ${baselineName}`;
  const rssTarget = `RSS ≤ ${mb(TARGETS.rssBytes)}`;
  if (!step) return [label, 'not run', '', '', '', [ratioTarget, rssTarget].filter(Boolean).join('; ')];
  const rssCheck = step.maxRssBytes == null ? 'n/a' : check(step.maxRssBytes <= TARGETS.rssBytes);
  const ratioCheck = baseline?.seconds == null ? 'n/a' : check(step.seconds / baseline.seconds <= targetRatio);
  return [
    label,
    secs(step.seconds),
    ratio(step.seconds, baseline?.seconds),
    mb(step.maxRssBytes),
    step.bytes != null ? mb(step.bytes) : '',
    [ratioTarget && `${ratioTarget} ${ratioCheck}`, `${rssTarget} ${rssCheck}`].filter(Boolean).join('; '),
  ];
}

/** The two rows under a strata restore: the table loads from its JSON report, and the rest. */
function breakdownRows(load, baseline) {
  if (load?.tableSeconds == null) return [];
  return [
    ['  of which table loads', secs(load.tableSeconds), baseline ? ratio(load.tableSeconds, baseline.seconds) : '', '', '', ''],
    ['  rest (db, migrations, indexes, checks)', secs(load.seconds - load.tableSeconds), '', '', '', ''],
  ];
}

function printRows(rows, header = ['operation', 'seconds', 'ratio', 'peak RSS', 'output', 'target']) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i >= 1 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** The S3 rows: each strata step through S3 against the same step on file:// in the same run. */
function s3Rows(steps) {
  const rows = [];
  rows.push(strataRow('strata snapshot → s3', steps.s3Snapshot, steps.strataSnapshot, TARGETS.s3Ratio, 'file://'));
  rows.push(strataRow('strata restore ← s3', steps.s3Restore, steps.strataRestore, TARGETS.s3Ratio, 'file://'));
  rows.push(...breakdownRows(steps.s3Restore, null));
  return rows;
}

/**
 * One line with the CPU seconds of each strata step (strata's process, and s3rver's during the S3
 * steps): on 2 cores, where strata, PostgreSQL and s3rver share the CPUs, this shows what an S3
 * step added.
 */
function printCpu(steps) {
  const parts = [
    ['snapshot file://', steps.strataSnapshot],
    ['restore file://', steps.strataRestore],
    ['snapshot --anonymize', steps.anonSnapshot],
    ['snapshot → s3', steps.s3Snapshot],
    ['restore ← s3', steps.s3Restore],
  ]
    .filter(([, step]) => step?.cpuSeconds != null)
    .map(([name, step]) => `${name} ${step.cpuSeconds.toFixed(1)}${step.serverCpuSeconds == null ? '' : ` + s3rver ${step.serverCpuSeconds.toFixed(1)}`}`);
  if (parts.length) console.log(`CPU seconds (user + system): ${parts.join('; ')}`);
}

/** The result table of one size. */
export function printTable(result) {
  const { steps } = result;
  const rows = [];
  rows.push(['pg_dump --data-only -Fc', secs(steps.pgDump?.seconds), '1.00×', mb(steps.pgDump?.maxRssBytes), mb(steps.pgDump?.bytes), '']);
  rows.push(strataRow('strata snapshot', steps.strataSnapshot, steps.pgDump, TARGETS.captureRatio, 'pg_dump'));
  rows.push(['pg_restore --data-only', secs(steps.pgRestore?.seconds), '1.00×', mb(steps.pgRestore?.maxRssBytes), '', '']);
  const load = steps.strataRestore;
  rows.push(strataRow('strata restore', load, steps.pgRestore, TARGETS.loadRatio, 'pg_restore'));
  rows.push(...breakdownRows(load, steps.pgRestore));
  rows.push([
    'ref: pg_restore schema+data',
    secs(steps.pgRestoreFull?.seconds),
    '',
    mb(steps.pgRestoreFull?.maxRssBytes),
    '',
    load ? `strata restore = ${(load.seconds / steps.pgRestoreFull.seconds).toFixed(2)}× this` : '',
  ]);
  rows.push(['schema migration alone (knex)', secs(steps.migrate?.seconds), '', '', '', '']);
  if (!result.anonSkipped) rows.push(strataRow('strata snapshot --anonymize', steps.anonSnapshot, steps.strataSnapshot, TARGETS.anonymizeRatio, 'strata snapshot'));
  if (!result.s3Skipped) rows.push(...s3Rows(steps));

  console.log(`\n${result.rows.toLocaleString('en-US')} rows, generated in ${secs(steps.generate?.seconds)} s`);
  printRows(rows);
  printCpu(steps);
  if (result.strataVia) console.log(`strata ran through ${result.strataVia}`);
  if (result.strataSkipped) console.log(`strata: not run (${result.strataSkipped})`);
  if (result.strataError) console.log(`strata: FAILED (${result.strataError.split('\n')[0]})`);
  if (result.anonSkipped) console.log(`anonymized capture: not run (${result.anonSkipped})`);
  if (result.anonError) console.log(`anonymized capture: FAILED (${result.anonError.split('\n')[0]})`);
  if (result.s3Skipped) console.log(`S3 part: not run (${result.s3Skipped})`);
  if (result.s3Error) console.log(`S3 part: FAILED (${result.s3Error.split('\n')[0]})`);
  for (const note of result.notes) console.log(`note: ${note}`);
}

/** Peak RSS of each strata step across sizes, against the smallest size's (steps not run at every size are left out). */
export function printRssAcrossSizes(results) {
  const kinds = [
    ['strataSnapshot', 'snapshot'],
    ['strataRestore', 'restore'],
    ['anonSnapshot', 'snapshot --anonymize'],
    ['s3Snapshot', 'snapshot → s3'],
    ['s3Restore', 'restore ← s3'],
  ].filter(([key]) => results.every((r) => r.steps[key]?.maxRssBytes != null));
  if (results.length < 2 || kinds.length === 0) return;
  console.log('\npeak RSS of the strata process across sizes (target: within 20% of the smallest size)');
  const base = results[0];
  for (const r of results) {
    const parts = kinds.map(([key, name]) => {
      const growth = r.steps[key].maxRssBytes / base.steps[key].maxRssBytes - 1;
      return `${name} ${mb(r.steps[key].maxRssBytes)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(0)}% ${check(growth <= TARGETS.rssGrowth)})`;
    });
    console.log(`  ${r.rows.toLocaleString('en-US').padStart(12)} rows: ${parts.join(', ')}`);
  }
}

/** The big-table result: strata on file:// (the reference) and through S3, RSS against the target. */
export function printBigTable(result) {
  const { steps } = result;
  console.log(
    `\nbig table: ${result.rows.toLocaleString('en-US')} rows, pg_total_relation_size ${mb(result.tableBytes)}` +
      ` (${(result.tableBytes / 1024 ** 3).toFixed(2)} GiB), generated in ${secs(steps.generate?.seconds)} s`,
  );
  const rows = [
    // The reference for the S3 ratios: no ratio target of its own.
    strataRow('strata snapshot (file://)', steps.strataSnapshot, null, null),
    strataRow('strata restore (file://)', steps.strataRestore, null, null),
    ...breakdownRows(steps.strataRestore, null),
    ...s3Rows(steps),
  ];
  printRows(rows);
  printCpu(steps);
  if (result.strataSkipped) console.log(`strata: not run (${result.strataSkipped})`);
  if (result.strataError) console.log(`strata (file://): FAILED (${result.strataError.split('\n')[0]})`);
  if (result.s3Skipped) console.log(`S3 part: not run (${result.s3Skipped})`);
  if (result.s3Error) console.log(`S3 part: FAILED (${result.s3Error.split('\n')[0]})`);
  for (const note of result.notes) console.log(`note: ${note}`);
}

/** The scoped-capture result (test/bench/scope.js): full and scoped capture, their ratio against the target, rows captured. */
export function printScope(result) {
  const { steps } = result;
  console.log(
    `\nscoped capture: ${result.companies} companies, ${(result.totalRows ?? result.rows).toLocaleString('en-US')} rows` +
      ` (generated in ${secs(steps.generate?.seconds)} s); one company: ${result.company}; median of each capture's runs`,
  );
  const rowsOf = (step) => (step?.rowsCaptured == null ? '' : `${step.rowsCaptured.toLocaleString('en-US')} rows`);
  const full = strataRow('strata snapshot (whole database)', steps.full, null, null);
  const scoped = strataRow(`strata snapshot --scope company=${result.company}`, steps.scoped, steps.full, TARGETS.scopeRatio, 'whole');
  // The same two captures by strata's own clock (`durationMs` of `snapshot --json`): the export
  // without the process start-up both pay.
  const operation = (step) => (step?.operationSeconds == null ? null : { seconds: step.operationSeconds });
  const fullOp = strataRow('  operation only (durationMs)', operation(steps.full), null, null);
  const scopedOp = strataRow('  operation only (durationMs)', operation(steps.scoped), operation(steps.full), TARGETS.scopeRatio, 'whole');
  printRows(
    [
      [...full.slice(0, 4), rowsOf(steps.full), full[5]],
      [...fullOp.slice(0, 3), '', '', ''],
      [...scoped.slice(0, 4), rowsOf(steps.scoped), scoped[5]],
      [...scopedOp.slice(0, 3), '', '', scopedOp[5].replace(/; RSS.*$/, '')],
    ],
    ['operation', 'seconds', 'ratio', 'peak RSS', 'captured', 'target'],
  );
  for (const [name, step] of [['whole', steps.full], ['scoped', steps.scoped]]) {
    if (step?.runs) console.log(`${name} capture runs: ${step.runs.map((s) => s.toFixed(2)).join(', ')} s (operation: ${step.operationRuns.map((s) => s?.toFixed(2) ?? 'n/a').join(', ')} s)`);
  }
  if (result.ownRows != null) console.log(`the company's own rows (counted independently, lookups aside): ${result.ownRows.toLocaleString('en-US')}`);
  if (result.crossTenant?.length) {
    console.log(`cross-tenant: ${result.crossTenant.map((e) => `${e.table}.${e.columns.join(',')} ${e.action} ${e.rows}`).join('; ')}`);
  }
  if (result.skipped) console.log(`scoped capture: not run (${result.skipped})`);
  if (result.error) console.log(`scoped capture: FAILED (${result.error.split('\n')[0]})`);
  for (const note of result.notes) console.log(`note: ${note}`);
}

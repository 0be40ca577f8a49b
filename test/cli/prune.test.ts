// `strata prune` through the built CLI, on a file:// history of hand-written manifests (no
// database needed): the dry run's JSON, the text listing, the config's retention, the refusals
// (exit 2, one sentence and a hint) and a real run.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeRun, runStrata, type CliResult } from '../support/cli.js';

const DAY = 86_400_000;

let dir: string;
let envDir: string;
const ids: Record<string, string> = {};
const createdAt: Record<string, string> = {};

/** A minimal valid format-1 manifest. */
function manifest(id: string, created: string, tags: string[]): unknown {
  return {
    formatVersion: '1.1.0',
    id,
    project: 'clip',
    environment: 'dev',
    createdAt: created,
    tags,
    createdBy: 'test',
    strataVersion: '0.1.0',
    source: { database: 'clip', serverVersion: '15.0' },
    data: { format: 'postgresql-copy-text', compression: 'gzip', encoding: 'UTF8' },
    modules: { app: { tableName: 'knex_migrations_app', last: null, applied: [] } },
    tables: [],
    sequences: [],
    excluded: [],
    transformers: [],
    scope: null,
  };
}

function strata(args: string[]): Promise<CliResult> {
  // NODE_ENV=production: oclif runs the build, not the TypeScript sources (vitest sets NODE_ENV=test).
  return runStrata(args, { cwd: dir, env: { NODE_ENV: 'production', STRATA_ENV: undefined } });
}

async function folders(): Promise<string[]> {
  return (await readdir(envDir)).sort();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-prune-cli-'));
  await mkdir(path.join(dir, 'migrations'));
  const environment = (extra: Record<string, unknown> = {}) => ({ database: 'postgres://nobody@127.0.0.1:1/unused', storage: 'file://./snapshots', ...extra });
  await writeFile(
    path.join(dir, 'strata.config.json'),
    JSON.stringify({
      project: 'clip',
      modules: { app: { migrations: './migrations' } },
      environments: { dev: environment(), configured: environment({ storage: 'file://./snapshots', retention: { keepLast: 1 } }) },
    }),
  );
  envDir = path.join(dir, 'snapshots', 'clip', 'dev');
  // One a day for four days; the third is tagged keep. Dates are relative to the real clock.
  const now = Date.now();
  const history: Array<[string, number, string[]]> = [
    ['a', 1, []],
    ['b', 2, []],
    ['c', 3, ['keep']],
    ['d', 4, ['nightly']],
  ];
  for (const [name, daysAgo, tags] of history) {
    const time = now - daysAgo * DAY;
    ids[name] = ulid(time);
    createdAt[name] = new Date(time).toISOString();
    await mkdir(path.join(envDir, ids[name]!, 'data'), { recursive: true });
    await writeFile(path.join(envDir, ids[name]!, 'data', 'public.t.copy.gz'), 'x');
    await writeFile(path.join(envDir, ids[name]!, 'manifest.json'), JSON.stringify(manifest(ids[name]!, createdAt[name]!, tags)));
  }
  // A capture that died two days ago without its manifest.
  ids.incomplete = ulid(now - 2 * DAY);
  await mkdir(path.join(envDir, ids.incomplete, 'data'), { recursive: true });
  await writeFile(path.join(envDir, ids.incomplete, 'data', 'public.t.copy.gz'), 'partial');
  // A snapshot whose manifest was cut short: every listing skips it, prune removes it.
  ids.damaged = ulid(now - 5 * DAY);
  await mkdir(path.join(envDir, ids.damaged, 'data'), { recursive: true });
  await writeFile(path.join(envDir, ids.damaged, 'data', 'public.t.copy.gz'), 'x');
  await writeFile(path.join(envDir, ids.damaged, 'manifest.json'), '{"formatVersion": "1.1.0", "id": "');
  // The "configured" environment shares nothing with dev: its own snapshots, same two ids.
  const configuredDir = path.join(dir, 'snapshots', 'clip', 'configured');
  for (const name of ['a', 'b']) {
    await mkdir(path.join(configuredDir, ids[name]!), { recursive: true });
    await writeFile(path.join(configuredDir, ids[name]!, 'manifest.json'), JSON.stringify(manifest(ids[name]!, createdAt[name]!, [])));
  }
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('strata prune', () => {
  it('--dry-run --json prints the plan and removes nothing', async () => {
    const before = await folders();
    const result = await strata(['prune', '--keep-last', '2', '--dry-run', '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.json()).toEqual({
      policy: { last: 2 },
      kept: [
        { id: ids.a, createdAt: createdAt.a, reasons: ['last 2'] },
        { id: ids.b, createdAt: createdAt.b, reasons: ['last 2'] },
        { id: ids.c, createdAt: createdAt.c, reasons: ['tag keep'] },
      ],
      removed: [{ id: ids.d, createdAt: createdAt.d }],
      incompleteRemoved: [ids.incomplete],
      damagedRemoved: [{ id: ids.damaged, reason: expect.stringMatching(/^The manifest at file:\/\/.*\/clip\/dev\/\w+\/ is not valid JSON/) }],
      dryRun: true,
    });
    expect(await folders()).toEqual(before);
  });

  it('prints each kept snapshot with its reasons and each one it would remove', async () => {
    const result = await strata(['prune', '--keep-last', '2', '--dry-run']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ACTION\s+ID\s+CREATED \(UTC\)\s+KEPT BY$/);
    expect(lines.find((l) => l.includes(ids.a!))).toMatch(/^keep\s+\S+\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+last 2$/);
    expect(lines.find((l) => l.includes(ids.c!))).toMatch(/tag keep$/);
    expect(lines.find((l) => l.includes(ids.d!))).toMatch(/^would remove\s/);
    expect(lines.find((l) => l.includes(ids.incomplete!))).toMatch(/^would remove\s.*incomplete \(no manifest\)$/);
    expect(lines.find((l) => l.includes(ids.damaged!))).toMatch(/^would remove\s.*damaged manifest$/);
    expect(result.stderr).toContain(`Would remove ${ids.damaged}: The manifest at `);
    expect(result.stderr).not.toContain('Skipping snapshot');
    expect(result.stderr).toContain(
      'Dry run: would keep 3 snapshots of dev and remove 1 (and 1 incomplete folder and 1 folder with a damaged manifest); run again without --dry-run to remove them.',
    );
  });

  it("uses the environment's retention when no flag is given", async () => {
    const result = await strata(['prune', '--env', 'configured', '--dry-run', '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const body = result.json();
    expect(body.policy).toEqual({ last: 1 });
    expect(body.kept).toEqual([{ id: ids.a, createdAt: createdAt.a, reasons: ['last 1'] }]);
    expect(body.removed).toEqual([{ id: ids.b, createdAt: createdAt.b }]);
  });

  it('refuses without any rule: exit 2, one sentence and a hint', async () => {
    const before = await folders();
    const text = await strata(['prune']);
    expect(text.exitCode, describeRun(text)).toBe(2);
    expect(text.stderr).toBe(
      'Error: No retention policy is set for environment "dev", so prune cannot tell which snapshots to keep.\n' +
        "Hint: Pass at least one of --keep-last, --keep-within, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, or set `retention` (e.g. { keepWithin: '30d', keepWeekly: 12 }) for \"dev\" in the config.\n",
    );
    const json = await strata(['prune', '--json']);
    expect(json.exitCode, describeRun(json)).toBe(2);
    expect(json.json().error).toMatchObject({ code: 'retention-policy-empty', hint: expect.stringContaining('--keep-last') });
    expect(await folders()).toEqual(before);
  });

  it('refuses a span that does not parse and a count below 1', async () => {
    const span = await strata(['prune', '--keep-within', '30days', '--json']);
    expect(span.exitCode, describeRun(span)).toBe(2);
    expect(span.json().error).toEqual({
      code: 'retention-policy-invalid',
      message: 'The retention span "30days" is not a span of time.',
      hint: 'Write a number and a unit: 12h (hours), 30d (days), 2w (weeks), 6m (months) or 1y (years).',
    });
    const count = await strata(['prune', '--keep-daily', '0']);
    expect(count.exitCode, describeRun(count)).toBe(2);
  });

  it('removes what the dry run said it would', async () => {
    const result = await strata(['prune', '--keep-last', '2', '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.json().dryRun).toBe(false);
    expect(await folders()).toEqual([ids.a, ids.b, ids.c].sort());
  });
});

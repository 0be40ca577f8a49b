// `strata snapshot --scope company=Acme` through the built CLI, on the multi-tenant example of
// test/fixtures/tenants: the capture, its cross-tenant warnings, `show` of the scope, and the
// errors of a bad --scope (exit 2, one sentence and a hint, no snapshot left).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectedCapture, type ExpectedCapture } from '../fixtures/tenants/expected-capture.js';
import { TENANT_MIGRATIONS_DIR, TENANT_SCOPES, TENANT_TABLES, seedTenants } from '../fixtures/tenants/seed.mjs';
import { describeRun, runStrata, type CliResult } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { expectUserError, tempDir } from './shop-fixture.js';

let source: TestDatabase;
let dir: Awaited<ReturnType<typeof tempDir>>;
let configPath: string;
let expected: ExpectedCapture;

/** Runs the built CLI on this file's config. */
function strata(args: string[]): Promise<CliResult> {
  return runStrata([...args, '--config', configPath], { cwd: dir.path, env: { STRATA_ENV: undefined } });
}

async function strataJson(args: string[]): Promise<any> {
  const result = await strata([...args, '--json']);
  expect(result.exitCode, `strata ${args.join(' ')}: ${describeRun(result)}`).toBe(0);
  return result.json();
}

async function snapshotCount(): Promise<number> {
  const list = await strataJson(['list']);
  return (Array.isArray(list) ? list : (list.snapshots ?? [])).length;
}

const bare = (name: string) => name.replace(/^public\./, '');

beforeAll(async () => {
  source = await createTestDatabase('cliscope');
  dir = await tempDir('strata-e2e-scope-');
  configPath = path.join(dir.path, 'strata.config.json');
  const config = {
    project: 'tenants',
    modules: { app: { migrations: TENANT_MIGRATIONS_DIR } },
    environments: { dev: { database: source.url, storage: pathToFileURL(path.join(dir.path, 'snapshots')).href } },
    scopes: { ...TENANT_SCOPES, companyById: { table: 'company', shared: ['country'] } },
  };
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  await strataJson(['migrate', 'up']);
  await seedTenants(source.url);
  expected = await expectedCapture(source.url, [1]);
});

afterAll(async () => {
  await source?.drop();
  await dir?.remove();
});

describe('strata snapshot --scope', () => {
  let id: string;

  it('captures one company and warns on stderr about each cross-tenant reference, naming table and column', async () => {
    const result = await strata(['snapshot', '--scope', 'company=Acme', '--description', 'acme only']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const warnings = result.stderr.split('\n').filter((line) => /warn/i.test(line));
    expect(expected.crossTenant.length).toBeGreaterThan(0);
    for (const entry of expected.crossTenant) {
      expect(
        warnings.some((line) => line.includes(entry.table) && line.includes(entry.columns[0]!)),
        `no warning line names ${entry.table} and ${entry.columns[0]}:\n${result.stderr}`,
      ).toBe(true);
    }
    expect(result.stdout + result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });

  it('--json prints the manifest with the scope and the rows of that company only', async () => {
    const output = await strataJson(['snapshot', '--scope', 'company=Acme']);
    const manifest = output.manifest ?? output;
    id = output.id ?? manifest.id;
    expect(manifest.scope).toMatchObject({ kind: 'tenant', name: 'company', key: 'name', values: ['Acme'] });
    expect(bare(manifest.scope.table)).toBe('company');
    expect(manifest.scope.shared.map(bare).sort()).toEqual(['country', 'currency']);
    expect(manifest.scope.leftOut.map(bare)).toEqual(['app_settings']);
    const counts = Object.fromEntries(manifest.tables.map((t: { name: string; rows: number }) => [t.name, t.rows]));
    const captured = TENANT_TABLES.filter((t) => t !== 'app_settings');
    expect(counts).toEqual(Object.fromEntries(captured.map((t) => [t, expected.rows[t]!.length])));
    // --json carries the warnings in the document instead of on stderr.
    expect(JSON.stringify(output.warnings ?? [])).toContain('assignee_id');
  });

  it('show prints the scope line and one line per cross-tenant entry; show --json has the scope', async () => {
    const text = await strata(['show', id]);
    expect(text.exitCode, describeRun(text)).toBe(0);
    const scopeLine = text.stdout.split('\n').find((line) => /^\s*Scope\b/i.test(line));
    expect(scopeLine, text.stdout).toBeDefined();
    expect(scopeLine).toMatch(/company/);
    expect(scopeLine).toMatch(/name=Acme/);
    expect(scopeLine).toMatch(/country/);
    expect(scopeLine).toMatch(/app_settings/);
    for (const entry of expected.crossTenant) {
      expect(
        text.stdout
          .split('\n')
          .some((line) => line.includes(entry.table) && line.includes(entry.columns[0]!) && new RegExp(`\\b${entry.rows} rows?\\b`).test(line)),
        `no line for ${entry.table}.${entry.columns[0]} with ${entry.rows} rows in:\n${text.stdout}`,
      ).toBe(true);
    }
    const json = await strataJson(['show', id]);
    const manifest = json.manifest ?? json;
    expect(manifest.scope).toMatchObject({ kind: 'tenant', name: 'company', values: ['Acme'] });
    expect(manifest.scope.crossTenant.length).toBe(expected.crossTenant.length);
  });

  it('takes several companies with a repeated --scope', async () => {
    const output = await strataJson(['snapshot', '--scope', 'company=Acme', '--scope', 'company=Globex']);
    expect((output.manifest ?? output).scope).toMatchObject({ kind: 'tenant', name: 'company', values: ['Acme', 'Globex'] });
  });
});

describe('a bad --scope', () => {
  const cases: Array<[string, string[], string, RegExp]> = [
    ['an unknown scope', ['--scope', 'department=Sales'], 'scope-unknown', /department/],
    ['a company that does not exist', ['--scope', 'company=Nobody Inc'], 'scope-root-not-found', /Nobody Inc/],
    ['two different scopes', ['--scope', 'company=Acme', '--scope', 'companyById=2'], 'scope-mixed', /scope/i],
    ['--scope with --tables', ['--scope', 'company=Acme', '--tables', 'users'], 'invalid-arguments', /--scope|--tables/],
  ];

  it.each(cases)('%s: exit 2, one sentence and a hint, no stack trace, no snapshot', async (_label, args, code, pattern) => {
    const before = await snapshotCount();
    const text = await strata(['snapshot', ...args]);
    expect(text.exitCode, describeRun(text)).toBe(2);
    const error = expectUserError(text);
    expect(error.message).toMatch(pattern);
    const json = await strata(['snapshot', ...args, '--json']);
    expect(json.exitCode, describeRun(json)).toBe(2);
    expect(expectUserError(json, { json: true }).code).toBe(code);
    expect(await snapshotCount()).toBe(before);
  });

  it('a --scope without NAME=VALUE: exit 2 with a hint', async () => {
    const text = await strata(['snapshot', '--scope', 'Acme']);
    expect(text.exitCode, describeRun(text)).toBe(2);
    expect(expectUserError(text).hint).toMatch(/\S/);
  });
});

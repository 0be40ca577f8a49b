// `npm run demo` without DATABASE_URL: the whole story on an embedded PostgreSQL (PGlite), with no
// server. The PostgreSQL variables point at an address where nothing listens, so any attempt to
// reach a server would fail the demo.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';

import { buildDataset, expectedFinalState } from '../../examples/shop/seed.js';
import { REPO_ROOT } from '../support/cli.js';
import { adminQuery } from '../support/database.js';

function runDemo(databaseUrl?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = databaseUrl
    ? { ...process.env, DATABASE_URL: databaseUrl, NO_COLOR: '1' }
    : { ...process.env, PGHOST: '127.0.0.9', PGPORT: '1', NO_COLOR: '1' };
  if (!databaseUrl) delete env.DATABASE_URL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'examples/shop/scripts/demo.js')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the demo', () => {
  it('tells the whole story on PGlite, with no PostgreSQL server, and cleans up', async () => {
    const { code, stdout, stderr } = await runDemo();
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('in an embedded PostgreSQL (PGlite)');
    // Migrated to the old point, restored with the later migrations run after the load.
    expect(stdout).toContain('applied orders:20240102090000_create_orders.ts');
    expect(stdout).toContain('accounts:20240108090000_split_customer_full_name.ts');
    // Before and after, from the seed's own description of the data (not from strata): the first
    // customer as seeded (full_name, e-mail as typed) and as the data migrations leave it.
    const [seeded] = buildDataset().customers;
    const final = expectedFinalState();
    const [customer] = final.customers;
    const [order] = final.orders;
    const cells = (...values: unknown[]): RegExp => new RegExp(values.map((v) => `\\| ${String(v).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +`).join(''));
    expect(stdout).toMatch(cells(seeded!.id, seeded!.fullName, seeded!.email));
    expect(stdout).toMatch(cells(customer!.id, customer!.first_name, customer!.last_name, customer!.email));
    expect(stdout).toMatch(cells(order!.id, order!.status, order!.total_cents, order!.currency));
    expect(stdout).toContain('Done: an old snapshot restored into the current schema');
    const removed = /removed (\S+)\.\n/.exec(stdout)?.[1];
    expect(removed).toBeDefined();
    expect(existsSync(removed!)).toBe(false);
  }, 180_000);

  it('runs the same story on the PostgreSQL server DATABASE_URL names, and drops what it created', async () => {
    const { code, stdout, stderr } = await runDemo(inject('adminDatabaseUrl'));
    expect(code, stderr).toBe(0);
    const created = /Create a fresh database (shop_demo_\w+) in postgres/.exec(stdout)?.[1];
    expect(created).toBeDefined();
    expect(stdout).toContain('Done: an old snapshot restored into the current schema');
    const { rows } = await adminQuery<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${created}%`]);
    expect(rows).toEqual([]);
  }, 180_000);
});

// MINIMAL placeholder: the test-infrastructure work replaces the discovery below with the full
// order (STRATA_TEST_DATABASE_URL, testcontainers, local server, pg_ctlcluster). The contract
// other tests rely on is only `inject('adminDatabaseUrl')`.
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a PostgreSQL server's maintenance database, for creating per-test databases. */
    adminDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.STRATA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  project.provide('adminDatabaseUrl', url);
}

// The shop's strata config. It is TypeScript, so it can compute values instead of relying on
// `${VAR}` interpolation (which fails when a variable is unset):
//
// - DATABASE_URL            the dev database (default: a local `shop_dev`). The demo and the
//                           end-to-end tests point it at databases they create and drop.
// - STRATA_SNAPSHOT_DIR     where snapshots go (default: `.strata/snapshots` next to this file).
//                           Tests set it to a temporary folder per test so runs never share
//                           snapshots; the demo does the same and removes the folder afterwards.
// - SHOP_MIGRATIONS_DIR     a copy of the `migrations` folder to use instead of this one. Tests use
//                           it to simulate a code base that lacks a migration a snapshot recorded.
// - STRATA_ANON_SALT        the anonymize salt, read only by `--anonymize` and `anonymize` commands.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { defineConfig } from '@strata/core';

const here = path.dirname(fileURLToPath(import.meta.url));
const migrationsRoot = process.env.SHOP_MIGRATIONS_DIR ?? './migrations';
const snapshotDir = path.resolve(here, process.env.STRATA_SNAPSHOT_DIR ?? '.strata/snapshots');

export default defineConfig({
  project: 'shop',
  // Run order across modules follows the timestamp prefixes, so `orders` can reference the tables
  // `accounts` and `catalog` created earlier.
  modules: {
    accounts: { migrations: `${migrationsRoot}/accounts` },
    catalog: { migrations: `${migrationsRoot}/catalog` },
    orders: { migrations: `${migrationsRoot}/orders` },
  },
  environments: {
    dev: {
      database: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/shop_dev',
      storage: pathToFileURL(snapshotDir).href,
    },
  },
  // Login sessions are worthless (and sensitive) in a copy: never captured.
  exclude: ['sessions'],
  // Masking rules for `strata snapshot --anonymize` and `strata restore <id> --anonymize`
  // (@strata/plugin-anonymize). The salt (16+ characters) comes from the environment when one of
  // those runs: the same salt gives the same masked values in every run and every table.
  anonymize: {
    salt: '${STRATA_ANON_SALT}',
    tables: {
      customers: { email: 'email', first_name: 'firstName', last_name: 'lastName', signup_ip: 'ip' },
      orders: { notes: 'scramble' },
    },
  },
});

import type { Knex } from 'knex';

// A plain rename: old snapshots hold `title`, the restored database must hold it as `name`.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE products RENAME COLUMN title TO name');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE products RENAME COLUMN name TO title');
}

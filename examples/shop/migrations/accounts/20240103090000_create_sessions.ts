import type { Knex } from 'knex';

// Login sessions: the config excludes this table from snapshots.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
      token bytea NOT NULL,
      expires_at timestamptz NOT NULL
    )
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE sessions');
}

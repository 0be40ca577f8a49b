import type { Knex } from 'knex';

// Customers, with a self-reference (who referred whom) and an identity the database always
// assigns: a restore has to load explicit ids with OVERRIDING SYSTEM VALUE.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE customers (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      email text NOT NULL UNIQUE,
      full_name text NOT NULL,
      referred_by bigint REFERENCES customers (id) ON DELETE SET NULL,
      signup_ip inet,
      tags text[] NOT NULL DEFAULT '{}',
      is_active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now()
    )
  `);
  await knex.raw('CREATE INDEX customers_referred_by_idx ON customers (referred_by)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE customers');
}

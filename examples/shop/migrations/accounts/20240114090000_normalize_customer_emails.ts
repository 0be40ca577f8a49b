import type { Knex } from 'knex';

// Data migration: e-mail addresses are stored lower-case from now on (a CHECK keeps it so), and
// customers gain an `email_verified` flag, false for everyone who signed up before.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('UPDATE customers SET email = lower(btrim(email)) WHERE email <> lower(btrim(email))');
  await knex.raw('ALTER TABLE customers ADD CONSTRAINT customers_email_lower CHECK (email = lower(email))');
  await knex.raw('ALTER TABLE customers ADD COLUMN email_verified boolean NOT NULL DEFAULT false');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE customers DROP COLUMN email_verified');
  await knex.raw('ALTER TABLE customers DROP CONSTRAINT customers_email_lower');
}

import type { Knex } from 'knex';

// A NOT NULL `currency` without a default: every order placed before multi-currency support was
// in euros, so the backfill writes 'EUR'; new orders must say which currency they use.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE orders ADD COLUMN currency char(3)');
  await knex.raw(`UPDATE orders SET currency = 'EUR'`);
  await knex.raw(`ALTER TABLE orders ALTER COLUMN currency SET NOT NULL, ADD CONSTRAINT orders_currency_upper CHECK (currency ~ '^[A-Z]{3}$')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE orders DROP COLUMN currency');
}

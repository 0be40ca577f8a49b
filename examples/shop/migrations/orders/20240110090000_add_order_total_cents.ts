import type { Knex } from 'knex';

// Data migration: a NOT NULL `total_cents`, backfilled from the order's lines (0 for an order
// without lines). From here on the application writes it when it places an order.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE orders ADD COLUMN total_cents bigint');
  await knex.raw(`
    UPDATE orders o SET total_cents = coalesce(
      (SELECT sum(round(l.line_total * 100))::bigint FROM order_lines l WHERE l.order_id = o.id),
      0
    )
  `);
  await knex.raw('ALTER TABLE orders ALTER COLUMN total_cents SET NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE orders DROP COLUMN total_cents');
}

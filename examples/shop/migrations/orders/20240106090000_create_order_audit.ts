import type { Knex } from 'knex';

// An audit trail written by a trigger on every new order. Restoring must not fire it: the
// snapshot already holds the audit rows the source database had.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE order_audit (
      id bigserial PRIMARY KEY,
      order_id bigint NOT NULL,
      action text NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT now()
    )
  `);
  await knex.raw(`
    CREATE FUNCTION order_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO order_audit (order_id, action) VALUES (NEW.id, 'created');
      RETURN NEW;
    END
    $$
  `);
  await knex.raw(`
    CREATE TRIGGER orders_audit_insert AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION order_audit_insert()
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER orders_audit_insert ON orders');
  await knex.raw('DROP FUNCTION order_audit_insert()');
  await knex.raw('DROP TABLE order_audit');
}

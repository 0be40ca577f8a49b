import type { Knex } from 'knex';

// Data migration: `full_name` becomes `first_name` + `last_name`. The first word is the first
// name and everything after the first space is the last name ("Ada van Dijk" → "Ada",
// "van Dijk"); a single word leaves the last name empty.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE customers ADD COLUMN first_name text, ADD COLUMN last_name text');
  await knex.raw(`
    UPDATE customers SET
      first_name = split_part(btrim(full_name), ' ', 1),
      last_name = CASE
        WHEN position(' ' IN btrim(full_name)) = 0 THEN ''
        ELSE btrim(substr(btrim(full_name), position(' ' IN btrim(full_name)) + 1))
      END
  `);
  await knex.raw('ALTER TABLE customers ALTER COLUMN first_name SET NOT NULL, ALTER COLUMN last_name SET NOT NULL');
  await knex.raw('ALTER TABLE customers DROP COLUMN full_name');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE customers ADD COLUMN full_name text');
  await knex.raw(`UPDATE customers SET full_name = btrim(first_name || ' ' || last_name)`);
  await knex.raw('ALTER TABLE customers ALTER COLUMN full_name SET NOT NULL');
  await knex.raw('ALTER TABLE customers DROP COLUMN first_name, DROP COLUMN last_name');
}

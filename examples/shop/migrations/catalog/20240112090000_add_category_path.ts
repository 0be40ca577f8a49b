import type { Knex } from 'knex';

// Data migration over the category tree: a NOT NULL materialised `path` of slugs from the root
// ("/kitchen/knives"), backfilled with a recursive query.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE categories ADD COLUMN path text');
  await knex.raw(`
    WITH RECURSIVE tree (id, path) AS (
      SELECT id, '/' || slug FROM categories WHERE parent_id IS NULL
      UNION ALL
      SELECT c.id, t.path || '/' || c.slug FROM categories c JOIN tree t ON c.parent_id = t.id
    )
    UPDATE categories c SET path = tree.path FROM tree WHERE tree.id = c.id
  `);
  await knex.raw('ALTER TABLE categories ALTER COLUMN path SET NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX categories_path_idx ON categories (path)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE categories DROP COLUMN path');
}

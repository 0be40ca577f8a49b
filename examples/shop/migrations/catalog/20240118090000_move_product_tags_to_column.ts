import type { Knex } from 'knex';

// Data migration: tags move out of the `attributes` JSON into a text[] column with a GIN index;
// the `tags` key is removed from `attributes`.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE products ADD COLUMN tags text[] NOT NULL DEFAULT '{}'`);
  await knex.raw(`
    UPDATE products SET
      tags = ARRAY(SELECT jsonb_array_elements_text(attributes -> 'tags')),
      attributes = attributes - 'tags'
    WHERE jsonb_typeof(attributes -> 'tags') = 'array'
  `);
  await knex.raw('CREATE INDEX products_tags_idx ON products USING gin (tags)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE products SET attributes = attributes || jsonb_build_object('tags', to_jsonb(tags))`);
  await knex.raw('ALTER TABLE products DROP COLUMN tags');
}

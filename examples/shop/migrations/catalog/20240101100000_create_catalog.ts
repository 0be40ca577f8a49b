import type { Knex } from 'knex';

// A category tree (self-referencing) and the products in it.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE categories (
      id serial PRIMARY KEY,
      parent_id integer REFERENCES categories (id),
      slug text NOT NULL UNIQUE,
      label text NOT NULL
    )
  `);
  await knex.raw(`
    CREATE TABLE products (
      id serial PRIMARY KEY,
      uuid uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
      sku text NOT NULL UNIQUE,
      title text NOT NULL,
      price numeric(12,2) NOT NULL CHECK (price >= 0),
      category_id integer NOT NULL REFERENCES categories (id),
      attributes jsonb NOT NULL DEFAULT '{}',
      thumbnail bytea,
      created_at timestamptz NOT NULL DEFAULT now()
    )
  `);
  await knex.raw('CREATE INDEX products_category_id_idx ON products (category_id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE products');
  await knex.raw('DROP TABLE categories');
}

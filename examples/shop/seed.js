// Seeds the shop with a small deterministic dataset, valid at ANY point of its migration history.
//
// Plain ESM JavaScript, so the demo and the end-to-end tests import it without a build. It looks
// at information_schema to see which tables and columns exist and writes the shape of that
// point: `full_name` before the split and `first_name`/`last_name` after it, `title` before the
// rename and `name` after it, `total_cents` once it exists, and so on.
//
// The dataset is designed so that the end state does not depend on the point it was seeded at:
// seeding at an early point and running the remaining migrations gives the same rows as seeding
// at the latest point (`expectedFinalState()` describes them). The one exception is the order
// audit trail, which a trigger writes only once it exists.
import pg from 'pg';

const BASE_TIME = Date.UTC(2023, 5, 1, 8, 0, 0);
const HOUR = 3_600_000;

/** Deterministic pseudo-random numbers (mulberry32), so every run seeds the same data. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A timestamptz literal with microseconds, `hours` after the base time. */
function timestamp(hours, micros) {
  const iso = new Date(BASE_TIME + hours * HOUR).toISOString(); // …T08:00:00.000Z
  return `${iso.slice(0, 19)}.${String(micros).padStart(6, '0')}+00`;
}

const FIRST_NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Niklaus', 'Radia', 'Tim', 'Sophie', 'Linus', 'Hedy', 'John', 'Katherine', 'Dennis', 'Annie', 'Cher'];
// Last names with spaces, apostrophes and non-ASCII: the split migration keeps everything after
// the first space as the last name. The last customer has a single-word name (last name '').
const LAST_NAMES = ['Lovelace', 'Hopper', 'Turing', 'van Dijk', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Wirth', 'Perlman', 'Berners-Lee', 'de la Cruz', "O'Brien", 'Lamarr', 'von Neumann', 'Johnson', 'Ritchie', 'Müller', ''];
const IPS = ['192.0.2.10', '2001:db8::1', null, '198.51.100.7', '10.0.0.0/8'];
const CUSTOMER_TAGS = [[], ['vip'], ['newsletter', 'beta'], ['has,comma', 'has "quote"'], ['ünïcode', 'back\\slash']];

const CATEGORIES = [
  { slug: 'kitchen', label: 'Kitchen', parent: null },
  { slug: 'garden', label: 'Garden', parent: null },
  { slug: 'books', label: 'Books', parent: null },
  { slug: 'knives', label: 'Knives', parent: 'kitchen' },
  { slug: 'pans', label: 'Pans & Pots', parent: 'kitchen' },
  { slug: 'tools', label: 'Garden tools', parent: 'garden' },
  { slug: 'fiction', label: 'Fiction', parent: 'books' },
  { slug: 'crime', label: 'Crime fiction', parent: 'fiction' },
];
const LEAF_SLUGS = ['knives', 'pans', 'tools', 'fiction', 'crime'];
const PRODUCT_WORDS = ["Chef's knife", 'Crème brûlée torch', 'Cast-iron pan', 'Pruning shears', 'Detective novel', 'Paring knife', 'Wok', 'Rake', 'Anthology', 'Whetstone'];
const PRODUCT_TAGS = [['sale'], [], ['new', 'eco'], ['gift', 'has space'], ['bestseller']];
const STATUSES = ['pending', 'paid', 'shipped', 'cancelled'];

/**
 * The dataset in its latest shape: 8 categories, 20 customers, 30 products, 50 orders with their
 * lines, 5 sessions. Ids are positions (1-based) in insertion order on a fresh database.
 */
export function buildDataset() {
  const random = prng(20240101);
  const categories = CATEGORIES.map((c, i) => {
    const parentIndex = c.parent === null ? null : CATEGORIES.findIndex((p) => p.slug === c.parent);
    return { id: i + 1, parentId: parentIndex === null ? null : parentIndex + 1, slug: c.slug, label: c.label };
  });
  for (const c of categories) c.path = categoryPath(categories, c);

  const customers = FIRST_NAMES.map((firstName, i) => {
    const lastName = LAST_NAMES[i];
    const fullName = lastName === '' ? firstName : `${firstName} ${lastName}`;
    const local = `${firstName}.${lastName || 'x'}`.replace(/[^A-Za-z.]/g, '');
    // Every third address is mixed-case: the email migration lower-cases them.
    const email = i % 3 === 0 ? `${local}@Example.COM` : `${local.toLowerCase()}@example.com`;
    return {
      id: i + 1,
      email,
      fullName,
      firstName,
      lastName,
      referredBy: i >= 2 && i % 4 !== 0 ? 1 + Math.floor(random() * i) : null,
      signupIp: IPS[i % IPS.length],
      tags: CUSTOMER_TAGS[i % CUSTOMER_TAGS.length],
      isActive: i % 5 !== 4,
      createdAt: timestamp(i * 30, (i * 123457) % 1_000_000),
    };
  });

  const products = Array.from({ length: 30 }, (_, i) => {
    const priceCents = i === 0 ? 0 : i === 1 ? 999_999_999_999 : 100 + Math.floor(random() * 50_000);
    const tags = PRODUCT_TAGS[i % PRODUCT_TAGS.length];
    const attributes = { color: ['red', 'green', 'blue'][i % 3], weight_g: 100 + i * 17, dimensions: { w: i, h: i * 2 } };
    if (i % 7 === 0) attributes.discount = null; // a JSON null, not SQL NULL
    return {
      id: i + 1,
      uuid: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
      sku: `SKU-${String(i + 1).padStart(4, '0')}`,
      name: i === 3 ? 'Tab\there, newline\nthere' : `${PRODUCT_WORDS[i % PRODUCT_WORDS.length]} #${i + 1}`,
      priceCents,
      price: centsToNumeric(priceCents),
      categoryId: categories.find((c) => c.slug === LEAF_SLUGS[i % LEAF_SLUGS.length]).id,
      attributes,
      tags,
      thumbnail: i % 4 === 0 ? null : Buffer.from([0, 1, 2, 255, 92, 10, i]),
      createdAt: timestamp(100 + i * 7, (i * 654_321) % 1_000_000),
    };
  });

  const orders = Array.from({ length: 50 }, (_, i) => {
    const lineCount = i % 10 === 9 ? 0 : 1 + Math.floor(random() * 4);
    const lines = Array.from({ length: lineCount }, () => {
      const product = products[2 + Math.floor(random() * (products.length - 2))];
      return { productId: product.id, quantity: 1 + Math.floor(random() * 5), unitPriceCents: product.priceCents };
    });
    const placedHours = 2_000 + i * 13;
    return {
      id: i + 1,
      customerId: customers[i % customers.length].id,
      status: STATUSES[i % STATUSES.length],
      placedOn: new Date(BASE_TIME + placedHours * HOUR).toISOString().slice(0, 10),
      placedAt: timestamp(placedHours, (i * 99_991) % 1_000_000),
      notes: i % 6 === 0 ? null : i % 6 === 1 ? 'Leave at the door.\nRing twice.' : `Order ${i + 1}`,
      currency: 'EUR',
      lines,
      totalCents: lines.reduce((sum, l) => sum + l.quantity * l.unitPriceCents, 0),
    };
  });

  const sessions = customers.slice(0, 5).map((c, i) => ({
    id: `11111111-1111-4111-8111-${String(i + 1).padStart(12, '0')}`,
    customerId: c.id,
    token: Buffer.from(`token-${i}`),
    expiresAt: timestamp(5_000 + i, 0),
  }));

  return { categories, customers, products, orders, sessions };
}

function categoryPath(categories, category) {
  const parent = category.parentId === null ? null : categories[category.parentId - 1];
  return `${parent ? categoryPath(categories, parent) : ''}/${category.slug}`;
}

function centsToNumeric(cents) {
  const s = String(cents).padStart(3, '0');
  return `${s.slice(0, -2)}.${s.slice(-2)}`;
}

/**
 * What the shop's tables hold at the latest point of the history after seeding at any earlier
 * point and migrating up (or after restoring such a snapshot into the latest code).
 */
export function expectedFinalState() {
  const data = buildDataset();
  return {
    categories: data.categories.map((c) => ({ id: c.id, parent_id: c.parentId, slug: c.slug, label: c.label, path: c.path })),
    customers: data.customers.map((c) => ({
      id: c.id,
      email: c.email.toLowerCase(),
      first_name: c.firstName,
      last_name: c.lastName,
      referred_by: c.referredBy,
      email_verified: false,
    })),
    products: data.products.map((p) => ({
      id: p.id,
      sku: p.sku,
      name: p.name,
      price: p.price,
      tags: p.tags,
      attributes: p.attributes,
    })),
    orders: data.orders.map((o) => ({ id: o.id, customer_id: o.customerId, status: o.status, total_cents: o.totalCents, currency: o.currency })),
    orderLines: data.orders.reduce((n, o) => n + o.lines.length, 0),
  };
}

/** Tables and columns of the public schema: `Map<table, Set<column>>`. */
async function schemaShape(run) {
  const rows = await run(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  const shape = new Map();
  for (const { table_name: table, column_name: column } of rows) {
    if (!shape.has(table)) shape.set(table, new Set());
    shape.get(table).add(column);
  }
  return shape;
}

/** Inserts one row of `values` (a column → value object) and returns the new id. */
async function insert(run, table, values) {
  const columns = Object.keys(values);
  const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`;
  const rows = await run(sql, Object.values(values));
  return rows[0].id;
}

/**
 * Inserts the dataset into the database, in the shape of the migration point it is at. Tables that
 * do not exist yet are skipped. Expects an empty, freshly migrated database (ids start at 1).
 *
 * @param {string | import('pg').ClientBase | import('pg').Pool | import('knex').Knex} target
 *   a PostgreSQL URL, a pg client or pool, or a knex instance.
 * @returns {Promise<Record<string, number>>} rows inserted per table (after deletions).
 */
export async function seedShop(target) {
  return withTransaction(target, async (run) => {
    const shape = await schemaShape(run);
    const has = (table, column) => shape.get(table)?.has(column) ?? false;
    const data = buildDataset();
    const counts = {};
    const ids = { customers: new Map(), categories: new Map(), products: new Map() };

    if (shape.has('customers')) {
      const split = has('customers', 'first_name');
      const lowerEmails = has('customers', 'email_verified');
      for (const c of data.customers) {
        const id = await insert(run, 'customers', {
          email: lowerEmails ? c.email.toLowerCase() : c.email,
          ...(split ? { first_name: c.firstName, last_name: c.lastName } : { full_name: c.fullName }),
          referred_by: c.referredBy === null ? null : ids.customers.get(c.referredBy),
          signup_ip: c.signupIp,
          tags: c.tags,
          is_active: c.isActive,
          created_at: c.createdAt,
        });
        ids.customers.set(c.id, id);
      }
      // A customer who closed their account: the identity has moved past the highest id left.
      const gone = await insert(run, 'customers', {
        email: 'gone@example.com',
        ...(split ? { first_name: 'Gone', last_name: 'Away' } : { full_name: 'Gone Away' }),
      });
      await run('DELETE FROM customers WHERE id = $1', [gone]);
      counts.customers = data.customers.length;
    }

    if (shape.has('categories')) {
      for (const c of data.categories) {
        const id = await insert(run, 'categories', {
          parent_id: c.parentId === null ? null : ids.categories.get(c.parentId),
          slug: c.slug,
          label: c.label,
          ...(has('categories', 'path') ? { path: c.path } : {}),
        });
        ids.categories.set(c.id, id);
      }
      counts.categories = data.categories.length;
    }

    if (shape.has('products')) {
      const tagsColumn = has('products', 'tags');
      for (const p of data.products) {
        const attributes = tagsColumn ? p.attributes : { ...p.attributes, tags: p.tags };
        const id = await insert(run, 'products', {
          uuid: p.uuid,
          sku: p.sku,
          [has('products', 'name') ? 'name' : 'title']: p.name,
          price: p.price,
          category_id: ids.categories.get(p.categoryId),
          attributes: JSON.stringify(attributes),
          thumbnail: p.thumbnail,
          created_at: p.createdAt,
          ...(tagsColumn ? { tags: p.tags } : {}),
        });
        ids.products.set(p.id, id);
      }
      counts.products = data.products.length;
    }

    if (shape.has('orders') && shape.has('order_lines')) {
      let lines = 0;
      const placeOrder = async (o) => {
        const id = await insert(run, 'orders', {
          customer_id: ids.customers.get(o.customerId),
          status: o.status,
          placed_on: o.placedOn,
          placed_at: o.placedAt,
          notes: o.notes,
          ...(has('orders', 'total_cents') ? { total_cents: o.totalCents } : {}),
          ...(has('orders', 'currency') ? { currency: o.currency } : {}),
        });
        for (const l of o.lines) {
          await insert(run, 'order_lines', {
            order_id: id,
            product_id: ids.products.get(l.productId),
            quantity: l.quantity,
            unit_price: centsToNumeric(l.unitPriceCents),
          });
        }
        return id;
      };
      for (const o of data.orders) {
        await placeOrder(o);
        lines += o.lines.length;
      }
      // A cancelled-and-purged order: its audit row (if the trigger exists) outlives it.
      const purged = await placeOrder({ ...data.orders[0], lines: [] });
      await run('DELETE FROM orders WHERE id = $1', [purged]);
      counts.orders = data.orders.length;
      counts.order_lines = lines;
    }

    if (shape.has('sessions')) {
      for (const s of data.sessions) {
        await run('INSERT INTO sessions (id, customer_id, token, expires_at) VALUES ($1, $2, $3, $4)', [
          s.id,
          ids.customers.get(s.customerId),
          s.token,
          s.expiresAt,
        ]);
      }
      counts.sessions = data.sessions.length;
    }
    return counts;
  });
}

/** Runs `work(run)` in one transaction; `run(sql, params)` takes `$n` placeholders, returns rows. */
async function withTransaction(target, work) {
  if (typeof target === 'string') {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      return await withTransaction(client, work);
    } finally {
      await client.end();
    }
  }
  if (typeof target.raw === 'function' && typeof target.transaction === 'function') {
    // knex: `?` placeholders, bindings in order of appearance.
    return target.transaction((trx) =>
      work(async (sql, params = []) => {
        const bindings = [];
        const text = sql.replace(/\$(\d+)/g, (_, n) => {
          bindings.push(params[Number(n) - 1]);
          return '?';
        });
        const result = await trx.raw(text, bindings);
        return result.rows;
      }),
    );
  }
  if (typeof target.connect === 'function' && typeof target.totalCount === 'number') {
    // pg.Pool: one client for the whole transaction.
    const client = await target.connect();
    try {
      return await withTransaction(client, work);
    } finally {
      client.release();
    }
  }
  const run = async (sql, params = []) => (await target.query(sql, params)).rows;
  await run('BEGIN');
  try {
    const result = await work(run);
    await run('COMMIT');
    return result;
  } catch (error) {
    await run('ROLLBACK').catch(() => {});
    throw error;
  }
}

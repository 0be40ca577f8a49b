import { describe, expect, it } from 'vitest';

import { looksPersonal, words, type ColumnLike, type PersonalCategory } from './personal-columns.js';

const col = (name: string, type = 'text'): ColumnLike => ({ name, type });

describe('looksPersonal', () => {
  const personal: Array<[string, string, PersonalCategory]> = [
    ['email', 'text', 'email'],
    ['contact_email', 'character varying(255)', 'email'],
    ['emailAddress', 'text', 'email'],
    ['e_mail', 'citext', 'email'],
    ['work_emails', 'text[]', 'email'],
    ['phone', 'text', 'phone'],
    ['phone_number', 'character varying(32)', 'phone'],
    ['mobile', 'text', 'phone'],
    ['fax', 'text', 'phone'],
    ['telephone', 'bigint', 'phone'],
    ['first_name', 'text', 'name'],
    ['lastName', 'text', 'name'],
    ['surname', 'text', 'name'],
    ['given_name', 'text', 'name'],
    ['family_name', 'text', 'name'],
    ['middle_name', 'text', 'name'],
    ['full_name', 'text', 'name'],
    ['firstname', 'text', 'name'],
    ['recipient_name', 'text', 'name'],
    ['cardholder_name', 'text', 'name'],
    ['emergency_contact_name', 'text', 'name'],
    ['username', 'text', 'username'],
    ['user_name', 'text', 'username'],
    ['login', 'character varying(64)', 'username'],
    ['address', 'text', 'address'],
    ['billing_address', 'jsonb', 'address'],
    ['address_line1', 'text', 'address'],
    ['street', 'text', 'address'],
    ['city', 'text', 'address'],
    ['zip', 'text', 'address'],
    ['postal_code', 'text', 'address'],
    ['postcode', 'text', 'address'],
    ['birth_date', 'date', 'birth'],
    ['date_of_birth', 'date', 'birth'],
    ['dob', 'date', 'birth'],
    ['born_on', 'date', 'birth'],
    ['birthday', 'text', 'birth'],
    ['birth_year', 'integer', 'birth'],
    ['ip', 'text', 'network'],
    ['ip_address', 'text', 'network'],
    ['signupIp', 'text', 'network'],
    ['last_login_ip', 'text', 'network'],
    ['anything', 'inet', 'network'],
    ['subnet', 'cidr', 'network'],
    ['iban', 'text', 'bank'],
    ['bic', 'text', 'bank'],
    ['account_number', 'bigint', 'bank'],
    ['credit_card', 'text', 'card'],
    ['card_number', 'character varying(19)', 'card'],
    ['pan', 'text', 'card'],
    ['cvv', 'text', 'card'],
    ['ssn', 'text', 'government-id'],
    ['national_id', 'text', 'government-id'],
    ['tax_id', 'text', 'government-id'],
    ['passport_number', 'text', 'government-id'],
    ['password', 'text', 'secret'],
    ['password_hash', 'text', 'secret'],
    ['encrypted_password', 'character varying(255)', 'secret'],
    ['api_key', 'text', 'secret'],
    ['token', 'bytea', 'secret'],
    ['reset_token', 'text', 'secret'],
    ['client_secret', 'text', 'secret'],
    ['contact', 'email_address', 'email'],
    ['contact', 'crm.phone_number', 'phone'],
  ];
  it.each(personal)('%s (%s) looks personal: %s', (name, type, category) => {
    const match = looksPersonal(col(name, type));
    expect(match, `${name} ${type}`).toBeDefined();
    expect(match!.category).toBe(category);
    expect(match!.reason).toMatch(/^(name contains '[a-z0-9_]+'|type (is|contains) .+)$/);
    expect(match!.suggestion).toMatch(/\S/);
  });

  const notPersonal: Array<[string, string]> = [
    ['id', 'bigint'],
    ['email_verified', 'boolean'],
    ['email_verified_at', 'timestamp with time zone'],
    ['email_status', 'text'],
    ['email_opt_in', 'boolean'],
    ['email_id', 'bigint'],
    ['address_id', 'bigint'],
    ['phone_count', 'integer'],
    ['phone_country_code', 'text'],
    ['password_changed_at', 'timestamp with time zone'],
    ['token_expires_at', 'timestamp with time zone'],
    ['is_mobile', 'boolean'],
    ['product_name', 'text'],
    ['sku_name', 'text'],
    ['company_name', 'text'],
    ['file_name', 'text'],
    ['name', 'text'], // without a table that holds people
    ['sku', 'text'],
    ['notes', 'text'],
    ['tags', 'text[]'],
    ['referred_by', 'bigint'],
    ['created_at', 'timestamp with time zone'],
    ['zip_file', 'text'],
    ['security_question', 'text'],
    ['secretary_id', 'bigint'],
    ['order_status', 'order_status'],
    ['ip_count', 'integer'],
    ['mobile_platform', 'text'],
  ];
  it.each(notPersonal)('%s (%s) does not look personal', (name, type) => {
    expect(looksPersonal(col(name, type))).toBeUndefined();
  });

  it('counts a bare name only on a table that holds people', () => {
    expect(looksPersonal(col('name'), { name: 'customers' })).toMatchObject({ category: 'name', reason: "'name' on table customers, which holds people" });
    expect(looksPersonal(col('display_name'), { name: 'users' })?.category).toBe('name');
    expect(looksPersonal(col('name'), { name: 'people' })?.category).toBe('name');
    expect(looksPersonal(col('name'), { name: 'signups', columns: [col('name'), col('email')] })).toMatchObject({
      category: 'name',
      reason: "'name' on table signups, next to its e-mail column 'email'",
    });
    expect(looksPersonal(col('name'), { name: 'products', columns: [col('name'), col('sku')] })).toBeUndefined();
    expect(looksPersonal(col('name'), { name: 'categories' })).toBeUndefined();
    // An organisation's e-mail does not make its name a person's.
    expect(looksPersonal(col('name'), { name: 'companies', columns: [col('name'), col('email')] })).toBeUndefined();
    // An e-mail flag is not an e-mail column.
    expect(looksPersonal(col('name'), { name: 'widgets', columns: [col('name'), col('email_enabled', 'boolean')] })).toBeUndefined();
  });

  it('says why', () => {
    expect(looksPersonal(col('contact_email'))?.reason).toBe("name contains 'email'");
    expect(looksPersonal(col('ip_address'))?.reason).toBe("name contains 'ip_address'");
    expect(looksPersonal(col('signup_ip', 'inet'))?.reason).toBe('type is inet (network addresses)');
    expect(looksPersonal(col('contact', 'email_address'))?.reason).toBe("type contains 'email_address'");
  });

  it('suggests a transformer that fits the column', () => {
    expect(looksPersonal(col('first_name'))?.suggestion).toBe('firstName');
    expect(looksPersonal(col('surname'))?.suggestion).toBe('lastName');
    expect(looksPersonal(col('recipient_name'))?.suggestion).toBe('fullName');
    expect(looksPersonal(col('birth_date', 'date'))?.suggestion).toBe('date');
    expect(looksPersonal(col('city'))?.suggestion).toBe('city');
    expect(looksPersonal(col('iban'))?.suggestion).toBe('iban');
    expect(looksPersonal(col('token', 'bytea'))?.suggestion).toBe('null');
  });

  it('flags exactly the personal columns of the example shop', () => {
    // The shop's latest schema (examples/shop/migrations), sessions included.
    const shop: Record<string, ColumnLike[]> = {
      customers: [
        col('id', 'bigint'), col('email'), col('referred_by', 'bigint'), col('signup_ip', 'inet'), col('tags', 'text[]'),
        col('is_active', 'boolean'), col('created_at', 'timestamp with time zone'), col('first_name'), col('last_name'),
        col('email_verified', 'boolean'),
      ],
      sessions: [col('id', 'uuid'), col('customer_id', 'bigint'), col('token', 'bytea'), col('expires_at', 'timestamp with time zone')],
      categories: [col('id', 'integer'), col('parent_id', 'integer'), col('slug'), col('label'), col('path')],
      products: [
        col('id', 'integer'), col('uuid', 'uuid'), col('sku'), col('name'), col('price', 'numeric(12,2)'), col('category_id', 'integer'),
        col('attributes', 'jsonb'), col('thumbnail', 'bytea'), col('created_at', 'timestamp with time zone'), col('tags', 'text[]'),
      ],
      orders: [
        col('id', 'bigint'), col('customer_id', 'bigint'), col('status', 'order_status'), col('placed_on', 'date'),
        col('placed_at', 'timestamp with time zone'), col('notes'), col('total_cents', 'bigint'), col('currency', 'character(3)'),
      ],
      order_lines: [col('id', 'bigint'), col('order_id', 'bigint'), col('product_id', 'integer'), col('quantity', 'integer'), col('unit_price', 'numeric(12,2)')],
      order_audit: [col('id', 'bigint'), col('order_id', 'bigint'), col('action'), col('recorded_at', 'timestamp with time zone')],
    };
    const flagged = Object.entries(shop).flatMap(([table, columns]) =>
      columns.filter((c) => looksPersonal(c, { name: table, columns })).map((c) => `${table}.${c.name}`),
    );
    expect(flagged.sort()).toEqual(['customers.email', 'customers.first_name', 'customers.last_name', 'customers.signup_ip', 'sessions.token']);
  });
});

describe('words', () => {
  it('splits snake_case, camelCase and acronyms', () => {
    expect(words('signupIp')).toEqual(['signup', 'ip']);
    expect(words('address_line1')).toEqual(['address', 'line1']);
    expect(words('HTTPRequestIP')).toEqual(['http', 'request', 'ip']);
    expect(words('E-Mail')).toEqual(['e', 'mail']);
  });
});

import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { driverFor } from './drivers.js';
import { postgresDriver } from './pg-driver.js';

function refusal(url: string): ConfigError {
  try {
    driverFor(url);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`driverFor accepted ${url}`);
}

describe('driverFor', () => {
  it('hands postgres:// and postgresql:// URLs, in any case, to the PostgreSQL server driver', () => {
    expect(driverFor('postgres://u:p@db:5432/shop')).toBe(postgresDriver);
    expect(driverFor('postgresql://localhost/shop')).toBe(postgresDriver);
    expect(driverFor('POSTGRES://localhost/shop')).toBe(postgresDriver);
  });

  it('names the scheme it cannot open, never the password, and lists the schemes it can', () => {
    const error = refusal('mysql://root:s3cret@db/shop');
    expect(error.code).toBe('database-url-unsupported');
    expect(error.message).toBe('strata cannot open mysql URLs.');
    expect(`${error.message} ${error.hint}`).not.toContain('s3cret');
    expect(error.hint).toContain('postgres://');
    expect(refusal('localhost/shop').code).toBe('database-url-unsupported');
  });
});

describe('postgresDriver.describe', () => {
  it('gives server, database and user for messages, without the password', () => {
    const described = postgresDriver.describe('postgres://alice:s3cret@db.example:6543/shop');
    expect(described).toEqual({ server: 'db.example:6543', host: 'db.example', port: '6543', database: 'shop', user: 'alice' });
  });
});

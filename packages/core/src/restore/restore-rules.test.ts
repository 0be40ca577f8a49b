import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { checkRestoreArguments } from './restore-rules.js';

function refusal(options: Parameters<typeof checkRestoreArguments>[0]): string {
  try {
    checkRestoreArguments(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('invalid-arguments');
    return (error as ConfigError).message;
  }
  return 'accepted';
}

describe('checkRestoreArguments', () => {
  it('accepts a whole restore, a selection, and a selection into an existing database', () => {
    expect(refusal({})).toBe('accepted');
    expect(refusal({ tables: ['orders'], withDependencies: true })).toBe('accepted');
    expect(refusal({ modules: ['billing'], into: 'shop_dev' })).toBe('accepted');
  });

  it('refuses combinations that cannot work, before anything is read', () => {
    expect(refusal({ into: 'shop_dev' })).toMatch(/no tables are selected/);
    expect(refusal({ tables: ['orders'], into: 'shop_dev', replace: true })).toMatch(/cannot be combined with --replace/);
    expect(refusal({ tables: ['orders'], into: 'shop_dev', database: 'x' })).toMatch(/cannot be combined with --database/);
    expect(refusal({ tables: ['orders'], into: 'shop_dev', withDependencies: true })).toMatch(/replaces exactly the tables named/);
    expect(refusal({ withDependencies: true })).toMatch(/no tables are selected/);
    expect(refusal({ tables: [] })).toMatch(/--tables names nothing/);
  });
});

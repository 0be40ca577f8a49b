import { describe, expect, it } from 'vitest';

import type { LoadedConfig } from '../config/config-loader.js';
import type { OperationContext } from '../operation-context.js';
import { checkRestoreRequest } from './restore-plan.js';

// checkRestoreRequest reads only the project name and the environment's name and database URL.
const config = { project: 'shop' } as LoadedConfig;
const env = { name: 'dev', databaseUrl: 'postgres://app:s3cret@db.internal:5432/shop_dev' } as OperationContext['env'];

describe('checkRestoreRequest', () => {
  it('resolves each target kind, touching nothing', () => {
    const fresh = checkRestoreRequest({ config, env, database: 'shop_copy' });
    expect(fresh).toEqual({ targetKind: 'fresh', target: { database: 'shop_copy', url: 'postgres://app:s3cret@db.internal:5432/shop_copy' } });

    const replace = checkRestoreRequest({ config, env, replace: true, confirm: 'shop_dev' });
    expect(replace.targetKind).toBe('replace');
    expect(replace.target.database).toBe('shop_dev');

    const into = checkRestoreRequest({ config, env, into: 'shop_live', tables: ['orders'] });
    expect(into).toEqual({ targetKind: 'into', target: { url: 'postgres://app:s3cret@db.internal:5432/shop_live', database: 'shop_live', server: 'db.internal:5432' } });
  });

  it('refuses what cannot work before anything is read: flags, the confirmation, a single-session engine', () => {
    expect(() => checkRestoreRequest({ config, env, into: 'shop_live' })).toThrow(expect.objectContaining({ code: 'invalid-arguments' }));
    expect(() => checkRestoreRequest({ config, env, replace: true, confirm: 'shop_prod' })).toThrow(
      expect.objectContaining({ code: 'replace-not-confirmed', message: '--confirm shop_prod does not match the database --replace would replace, shop_dev.' }),
    );
    expect(() => checkRestoreRequest({ config, env, into: 'pglite://memory', tables: ['orders'] })).toThrow(expect.objectContaining({ code: 'into-single-session' }));
  });
});

import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { resolveTableNames } from './table-names.js';

describe('resolveTableNames', () => {
  it('reads a bare name as public.name and drops duplicates', () => {
    expect(resolveTableNames(['tasks', 'public.tasks', 'audit.log'], ['public.tasks', 'audit.log'], 'Snapshot X')).toEqual(['public.tasks', 'audit.log']);
  });

  it('names every unknown table in one sentence', () => {
    expect(() => resolveTableNames(['tasks', 'nope', 'other.t'], ['public.tasks'], 'Snapshot X')).toThrow(
      expect.objectContaining({ constructor: ConfigError, code: 'table-unknown', message: 'Snapshot X has no tables public.nope, other.t.' }),
    );
  });
});

import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { resolveTableNames } from './table-names.js';

function caught(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveTableNames', () => {
  it('reads a bare name as public.name and drops duplicates', () => {
    expect(resolveTableNames(['tasks', 'public.tasks', 'audit.log'], ['public.tasks', 'audit.log'], 'Snapshot X')).toEqual(['public.tasks', 'audit.log']);
  });

  it('names every unknown table in one sentence', () => {
    const error = caught(() => resolveTableNames(['tasks', 'nope', 'other.t'], ['public.tasks'], 'Snapshot X'));
    expect(error.code).toBe('table-unknown');
    expect(error.message).toBe('Snapshot X has no tables public.nope, other.t.');
  });
});

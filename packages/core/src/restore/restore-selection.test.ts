import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { selectionDependencies } from './restore-selection.js';

// tasks → projects → company; comments → tasks, comments → comments (replies); projects → currency.
const EDGES = [
  { from: 'public.tasks', to: 'public.projects' },
  { from: 'public.projects', to: 'public.company' },
  { from: 'public.projects', to: 'public.currency' },
  { from: 'public.comments', to: 'public.tasks' },
  { from: 'public.comments', to: 'public.comments' },
];
const ALL = new Set(['public.company', 'public.currency', 'public.projects', 'public.tasks', 'public.comments']);

function caught(work: () => unknown): ConfigError {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('selectionDependencies', () => {
  it('needs nothing for a self-reference or for tables whose references are selected', () => {
    expect(selectionDependencies(['public.comments', 'public.tasks', 'public.projects', 'public.company', 'public.currency'], EDGES, { add: false, available: ALL }))
      .toEqual({ tables: ['public.comments', 'public.tasks', 'public.projects', 'public.company', 'public.currency'], added: [] });
  });

  it('refuses, naming every table the selection would leave empty and who references it', () => {
    const error = caught(() => selectionDependencies(['public.tasks'], EDGES, { add: false, available: ALL }));
    expect(error.code).toBe('selection-incomplete');
    expect(error.message).toContain('public.company, public.currency, public.projects');
    expect(error.message).toContain('public.tasks → public.projects');
    expect(error.message).toContain('public.projects → public.company');
    expect(error.hint).toContain('--with-dependencies');
  });

  it('adds the referenced tables transitively with add', () => {
    const result = selectionDependencies(['public.comments'], EDGES, { add: true, available: ALL });
    expect(result.added).toEqual(['public.company', 'public.currency', 'public.projects', 'public.tasks']);
    expect(result.tables[0]).toBe('public.comments');
    expect(new Set(result.tables)).toEqual(ALL);
  });

  it('cannot add a table the snapshot does not hold', () => {
    const available = new Set([...ALL].filter((t) => t !== 'public.currency'));
    const error = caught(() => selectionDependencies(['public.tasks'], EDGES, { add: true, available }));
    expect(error.code).toBe('selection-dependency-missing');
    expect(error.message).toContain('public.currency (referenced by public.projects)');
  });
});

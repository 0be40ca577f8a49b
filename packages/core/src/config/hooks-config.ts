import { z } from 'zod';

/**
 * One step of an environment's `hooks.beforeRestore` / `hooks.afterRestore`: a SQL file (a string
 * ending in `.sql`, or `{ sql: 'file.sql' }`, relative to the config file) run on the database,
 * or a shell command (any other string, or `{ run: 'command' }`).
 */
export type HookStep = string | { sql: string } | { run: string };

export const hookStepSchema = z.union([z.string().min(1), z.strictObject({ sql: z.string().min(1) }), z.strictObject({ run: z.string().min(1) })]);
export const hooksSchema = z.strictObject({
  beforeRestore: z.array(hookStepSchema).optional(),
  afterRestore: z.array(hookStepSchema).optional(),
});
export type PromotionHooks = z.output<typeof hooksSchema>;

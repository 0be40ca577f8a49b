import { StrataError } from '@strata/contracts';

/**
 * The plugin's error: one of core's errors (so the CLI prints its sentence and hint and exits
 * with its code), with the exit code chosen per error: 2 for bad configuration or rules. Its
 * class comes from `@strata/contracts`, as every plugin's errors do. A message
 * or hint never contains the salt.
 */
export class AnonymizeError extends StrataError {
  override readonly exitCode: number;

  constructor(message: string, options: { code: string; hint?: string; exitCode?: number; cause?: unknown }) {
    super(message, {
      code: options.code,
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.exitCode = options.exitCode ?? 2;
  }
}

/** A mistake in the `anonymize` section or in a rule against the schema: exit code 2. */
export function rulesError(code: string, message: string, hint?: string, cause?: unknown): AnonymizeError {
  return new AnonymizeError(message, { code, exitCode: 2, ...(hint ? { hint } : {}), cause });
}

/** Up to `limit` of `candidates` closest to `name` (edit distance), for "did you mean" hints. */
export function closeNames(name: string, candidates: Iterable<string>, limit = 3): string[] {
  const scored: Array<[string, number]> = [];
  const lower = name.toLowerCase();
  for (const candidate of candidates) {
    const other = candidate.toLowerCase();
    const d = editDistance(lower, other);
    // Containment counts only for names of some length: `middle` holds `id`, which helps no one.
    const contains = Math.min(lower.length, other.length) >= 4 && (other.includes(lower) || lower.includes(other));
    if (d <= Math.max(2, Math.floor(name.length / 2)) || contains) {
      scored.push([candidate, d]);
    }
  }
  scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  return scored.slice(0, limit).map(([c]) => c);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * A duration flag such as `60s`, `2m`, `1h`, `500ms`, or a bare number of seconds, in
 * milliseconds; `undefined` for anything else, so the caller can say what was wrong.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = (match[2] ?? 's').toLowerCase();
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1_000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(value * factor);
}

import type { ColumnType } from './column-type.js';

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?$/;
const PPB = 1_000_000_000n;

/**
 * `value × factor`, written back in the column's type: integers stay integral and inside the
 * type's range, `numeric(p,s)` keeps scale s and fits precision p, plain `numeric` keeps the
 * input's scale, floats are printed as JavaScript prints doubles. Exact decimal arithmetic
 * (BigInt), so a `bigint` beyond 2^53 or a long `numeric` loses nothing. `NaN` and infinities
 * are kept. Returns `undefined` for text that is not a number.
 */
export function addNoise(value: string, factor: number, type: ColumnType | undefined): string | undefined {
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return value;
  const m = DECIMAL.exec(value);
  if (!m || type?.kind === 'float') {
    const n = Number(value);
    if (value.trim() === '' || Number.isNaN(n)) return undefined;
    return String(n * factor);
  }
  const inputScale = m[3]?.length ?? 0;
  const scale = type?.kind === 'integer' ? 0 : (type?.scale ?? inputScale);
  const mantissa = BigInt(`${m[1] === '-' ? '-' : ''}${m[2]}${m[3] ?? ''}`);
  const f = BigInt(Math.round(factor * 1e9));
  let result =
    scale >= inputScale ? roundDiv(mantissa * f * 10n ** BigInt(scale - inputScale), PPB) : roundDiv(mantissa * f, PPB * 10n ** BigInt(inputScale - scale));
  if (type?.kind === 'integer' && type.min !== undefined && type.max !== undefined) {
    result = result < type.min ? type.min : result > type.max ? type.max : result;
  } else if (type?.precision !== undefined) {
    const limit = 10n ** BigInt(type.precision) - 1n;
    result = result < -limit ? -limit : result > limit ? limit : result;
  }
  return formatScaled(result, scale);
}

/** a / b rounded half away from zero (b > 0). */
function roundDiv(a: bigint, b: bigint): bigint {
  const half = b / 2n;
  return a >= 0n ? (a + half) / b : -((-a + half) / b);
}

function formatScaled(n: bigint, scale: number): string {
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString();
  if (scale === 0) return negative ? `-${digits}` : digits;
  const padded = digits.padStart(scale + 1, '0');
  const out = `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
  return negative ? `-${out}` : out;
}

/**
 * Date arithmetic on PostgreSQL's ISO text forms (`2024-01-31`, `2024-01-31 13:45:12.5`,
 * `2024-01-31 13:45:12+01`, `0044-03-15 BC`) and ISO strings in JSON (`2024-01-31T13:45:12Z`):
 * only the calendar date moves, the time of day, fraction and offset are kept as written, so the
 * result is a valid value of the same type.
 */
const DATE = /^(\d{4,})-(\d{2})-(\d{2})(.*?)( BC)?$/s;

/** The date of `value` moved by `days`, in the same form; `undefined` when it is not a date. */
export function shiftDate(value: string, days: number): string | undefined {
  const m = DATE.exec(value);
  if (!m) return undefined;
  const bc = m[5] !== undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  // Astronomical years: 1 BC is year 0.
  const [y, mo, d] = civilFromDays(daysFromCivil(bc ? 1 - year : year, month, day) + days);
  const outYear = y <= 0 ? 1 - y : y;
  return `${String(outYear).padStart(4, '0')}-${pad2(mo)}-${pad2(d)}${m[4]}${y <= 0 ? ' BC' : ''}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, any year).
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

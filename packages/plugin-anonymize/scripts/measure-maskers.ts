/**
 * Throughput of each transformer on distinct inputs (so the per-masker cache never hits), one core.
 * Not a test: run `npx tsx packages/plugin-anonymize/scripts/measure-maskers.ts` from the repo root.
 */
import { createAnonymizer, parseAnonymizeConfig, type PlannedColumn } from '../src/index.js';
import { parseColumnType } from '../src/column-type.js';

const N = Number(process.env.N ?? 300_000);
const config = parseAnonymizeConfig({ salt: 'measure-salt-0123456789', tables: {} });
const anonymizer = createAnonymizer(config);

const inputs: Record<string, (i: number) => string> = {
  text: (i) => `Person Number${i} ${i * 7919}`,
  email: (i) => `someone.${i}@mail${i % 97}.com`,
  phone: (i) => `+1 (555) ${String(i % 1000).padStart(3, '0')}-${String(i).padStart(4, '0').slice(-4)}${i}`,
  date: (i) => `${1950 + (i % 60)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
  timestamptz: (i) => `2024-01-${String(1 + (i % 28)).padStart(2, '0')} 12:${String(i % 60).padStart(2, '0')}:00.${i}+01`,
  numeric: (i) => `${i}.${String(i % 100).padStart(2, '0')}`,
  integer: (i) => String(i),
};

const cases: Array<[string, string, keyof typeof inputs, boolean?]> = [
  ['email', 'text', 'email'],
  ['fullName', 'text', 'text'],
  ['fullName', 'text', 'text', true],
  ['firstName', 'text', 'text'],
  ['phone', 'text', 'phone'],
  ['scramble', 'text', 'text'],
  ['username', 'text', 'email'],
  ['uuid', 'uuid', 'text'],
  ['hash', 'text', 'text'],
  ['date', 'date', 'date'],
  ['date', 'timestamp with time zone', 'timestamptz'],
  ['number', 'numeric(12,2)', 'numeric'],
  ['number', 'integer', 'integer'],
  ['ip', 'inet', 'text'],
  ['partial', 'text', 'text'],
  ['city', 'text', 'text'],
  ['address', 'text', 'text'],
  ['company', 'text', 'text'],
  ['iban', 'text', 'text'],
  ['creditCard', 'text', 'text'],
];

for (const [transformer, type, input, unique] of cases) {
  const values = Array.from({ length: N }, (_, i) => inputs[input]!(i));
  const planned: PlannedColumn = {
    schema: 'public',
    table: 't',
    column: 'c',
    type: parseColumnType(type),
    rule: { kind: 'transformer', transformer, options: transformer === 'partial' ? { keepLast: 4 } : {}, key: false },
    unique: unique === true,
    ruleKey: 'public.t.c',
    ruleName: transformer,
  };
  const mask = anonymizer.columnMask(planned);
  const row = () => ({});
  for (let i = 0; i < 2000; i++) mask(inputs[input]!(N + i), row);
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < N; i++) sink += mask(values[i]!, row)?.length ?? 0;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const label = `${transformer}${unique ? ' (unique)' : ''} on ${type}`;
  console.log(`${label.padEnd(40)} ${Math.round(N / seconds).toLocaleString('en-US').padStart(11)} values/s  ${((seconds / N) * 1e6).toFixed(2)} µs/value  e.g. ${JSON.stringify(mask(values[1]!, row))}${sink < 0 ? '' : ''}`);
}

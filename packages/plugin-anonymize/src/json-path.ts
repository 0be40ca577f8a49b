/**
 * Masking a leaf inside a `json`/`jsonb` value without re-serialising the document: the text is
 * scanned, the addressed leaves are located by character span and only those spans are replaced.
 * Everything else (key order, whitespace, numbers beyond 2^53, `1.0`) stays byte for byte.
 */

/** One step of a path: an object key, every element of an array (`[]`), or one element (`[2]`). */
export type PathStep = { key: string } | { each: true } | { index: number };

/** A JSON leaf as a masker sees it. */
export type JsonLeaf = { kind: 'string'; value: string } | { kind: 'number'; value: string } | { kind: 'other'; text: string };

/**
 * Parses `contact.email`, `contacts[].email`, `[0].phone` (the part after the column name).
 * Returns `undefined` for a malformed path.
 */
export function parseJsonPath(path: string): PathStep[] | undefined {
  const steps: PathStep[] = [];
  const re = /\.?([^.[\]]+)|\[(\d*)\]/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    m = re.exec(path);
    if (!m || m.index !== at) return undefined;
    if (m[1] !== undefined) steps.push({ key: m[1] });
    else steps.push(m[2] === '' ? { each: true } : { index: Number(m[2]) });
    at = re.lastIndex;
  }
  return steps.length > 0 ? steps : undefined;
}

/** Prints a parsed path back (canonical form, for rule names). */
export function formatJsonPath(steps: readonly PathStep[]): string {
  return steps.map((s) => ('key' in s ? `.${s.key}` : 'each' in s ? '[]' : `[${s.index}]`)).join('');
}

/**
 * Replaces every value addressed by `steps` with `mask(leaf)`: a string is written back as a JSON
 * string, `null` as JSON null, a number as a JSON number when it is a valid one, `undefined` leaves
 * that value as it was. Objects, arrays, booleans and JSON null arrive as `other`. A path that does
 * not exist leaves the document alone; so does text that is not JSON (PostgreSQL never prints that).
 */
export function maskJsonPath(text: string, steps: readonly PathStep[], mask: (leaf: JsonLeaf) => string | null | undefined): string {
  const spans: Array<[number, number]> = [];
  try {
    const end = visit(text, skipWs(text, 0), steps, 0, spans);
    if (skipWs(text, end) !== text.length) return text;
  } catch {
    return text;
  }
  if (spans.length === 0) return text;
  let out = '';
  let last = 0;
  for (const [start, end] of spans) {
    const raw = text.slice(start, end);
    const c = raw.charCodeAt(0);
    const leaf: JsonLeaf =
      c === 34 ? { kind: 'string', value: JSON.parse(raw) as string } : c === 45 || (c >= 48 && c <= 57) ? { kind: 'number', value: raw } : { kind: 'other', text: raw };
    const masked = mask(leaf);
    let replacement: string;
    if (masked === undefined) replacement = raw;
    else if (masked === null) replacement = 'null';
    else if (leaf.kind === 'number' && NUMBER.test(masked)) replacement = masked;
    else replacement = JSON.stringify(masked);
    out += text.slice(last, start) + replacement;
    last = end;
  }
  return out + text.slice(last);
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** Scans the value at `i`; records spans of leaves matching `steps[depth..]`; returns its end. */
function visit(text: string, i: number, steps: readonly PathStep[], depth: number, spans: Array<[number, number]>): number {
  const step = steps[depth];
  if (step === undefined) {
    const end = skipValue(text, i);
    spans.push([i, end]);
    return end;
  }
  const c = text.charCodeAt(i);
  if (c === 123 /* { */) {
    let j = skipWs(text, i + 1);
    if (text.charCodeAt(j) === 125) return j + 1;
    for (;;) {
      const keyEnd = skipString(text, j);
      const key = 'key' in step ? (JSON.parse(text.slice(j, keyEnd)) as string) : undefined;
      j = skipWs(text, keyEnd);
      if (text.charCodeAt(j) !== 58) throw new Error('json');
      j = skipWs(text, j + 1);
      const matches = key !== undefined && 'key' in step && key === step.key;
      j = matches ? visit(text, j, steps, depth + 1, spans) : skipValue(text, j);
      j = skipWs(text, j);
      const d = text.charCodeAt(j);
      if (d === 125) return j + 1;
      if (d !== 44) throw new Error('json');
      j = skipWs(text, j + 1);
    }
  }
  if (c === 91 /* [ */) {
    let j = skipWs(text, i + 1);
    if (text.charCodeAt(j) === 93) return j + 1;
    for (let index = 0; ; index++) {
      const matches = 'each' in step || ('index' in step && step.index === index);
      j = matches ? visit(text, j, steps, depth + 1, spans) : skipValue(text, j);
      j = skipWs(text, j);
      const d = text.charCodeAt(j);
      if (d === 93) return j + 1;
      if (d !== 44) throw new Error('json');
      j = skipWs(text, j + 1);
    }
  }
  // A path running into a scalar before its end does not exist.
  return skipValue(text, i);
}

function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 34) return skipString(text, i);
  if (c === 123 || c === 91) {
    // Skip a container by bracket depth, stepping over strings.
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const d = text.charCodeAt(j);
      if (d === 34) {
        j = skipString(text, j);
        continue;
      }
      if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    throw new Error('json');
  }
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
    j++;
  }
  if (j === i) throw new Error('json');
  return j;
}

function skipString(text: string, i: number): number {
  if (text.charCodeAt(i) !== 34) throw new Error('json');
  let j = i + 1;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === 92) j += 2;
    else if (d === 34) return j + 1;
    else j++;
  }
  throw new Error('json');
}

function skipWs(text: string, i: number): number {
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d !== 32 && d !== 10 && d !== 13 && d !== 9) break;
    j++;
  }
  return j;
}

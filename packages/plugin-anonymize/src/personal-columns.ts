// "Does this column look personal?" from its name and type, for `strata anonymize check`. A
// heuristic: it errs towards asking (an operator answers a false positive once with a `"keep"`
// rule), but it must stay quiet on the names of things (`product_name`, `sku`, `file_name`) and on
// columns that only describe personal data (`email_verified`, `phone_count`, `password_changed_at`),
// or a CI gate built on it gets switched off.
//
// The rules:
//  1. The type: `inet`, `cidr`, `macaddr`, `macaddr8` hold network addresses, whatever the name.
//  2. The name, split into words (`signupIp` → signup, ip; `address_line1` → address, line1), is
//     matched against these phrases; the match nearest the end of the name wins, since the last
//     word of a compound says what it is (`last_login_ip` is an ip, `email_address` an e-mail):
//     email (email, e_mail, mail), phone (phone, telephone, tel, mobile, cell, fax, msisdn),
//     name parts (first/last/full/middle/given/family/maiden/legal/nick/sur/fore + name, firstname,
//     surname, fname, …; and `<someone>_name`: customer_name, recipient_name, cardholder_name, …),
//     username (username, user_name, login, screen_name), birth (birth, birthday, birthdate,
//     date_of_birth, dob, born), network (ip, ip_address, ipv4, remote_addr, mac_address),
//     bank (iban, bic, swift, account_number, bank_account, routing_number, sort_code), card
//     (credit_card, card_number, cc_number, pan, cvv, cvc), government id (ssn, social_security,
//     national_id, tax_id, passport, drivers_license, id_number), address (address, addr, street,
//     city, zip, zipcode, postcode, postal_code, house_number), secret (password, passwd, pwd,
//     passphrase, secret, token, api_key, private_key, access_key, otp, recovery_code).
//  3. A bare `name` (or `display_name`) counts only on a table that holds people: its name's last
//     word is a person (customers, users, employees, contacts, …), or it has an e-mail or phone
//     column and is not named for an organisation (companies, stores, teams, …). `products.name`
//     and `categories.name` are names of things.
//  4. Each category accepts some types only: a name or e-mail is text (or json, or a domain type);
//     a birth date is a date, text or a number (birth_year); a card, account or id number is text
//     or a number; a secret is text or bytea. So `email_verified boolean`, `phone_count integer`
//     and `token_expires timestamptz` are not personal.
//  5. A name whose last word says the column is about the value rather than the value itself
//     (`_id`, `_at`, `_on`, `_status`, `_type`, `_count`, `_verified`, `_confirmed`, `_sent`,
//     `_consent`, `_opt_in`, …) is not personal: `email_status`, `address_id` (a foreign key),
//     `password_changed_at`. A phrase that ends the name still counts (`national_id`), and so does
//     a birth date (`born_on`).
//  6. A column of a type strata does not know (a domain or an enum) is also judged by its type's
//     name with the same rules: `contact email_address` looks personal.
// Free text (`notes`, `comment`) is not flagged: it may hold anything, and flagging every text
// column would drown the real findings. Neither are country, gender or coordinates.

/** What kind of personal data a column seems to hold. */
export type PersonalCategory =
  | 'email'
  | 'phone'
  | 'name'
  | 'username'
  | 'birth'
  | 'network'
  | 'bank'
  | 'card'
  | 'government-id'
  | 'address'
  | 'secret';

/** Why a column looks personal, and a rule that would mask it. */
export interface PersonalMatch {
  category: PersonalCategory;
  /** One phrase for people: `name contains 'email'`, `type is inet`. */
  reason: string;
  /** A transformer that fits, as a starting point for the rule (`email`, `firstName`, `date`, …). */
  suggestion: string;
}

/** A column as the heuristic sees it: its name and its `format_type()` type. */
export interface ColumnLike {
  name: string;
  type: string;
}

/** The table a column belongs to: its name and (optionally) all its columns, for the `name` rule. */
export interface TableLike {
  name: string;
  columns?: readonly ColumnLike[];
}

/** `inert`: booleans and the other built-in types that cannot hold the categories (interval, money, ranges, …). */
type TypeFamily = 'text' | 'binary' | 'date' | 'number' | 'network' | 'json' | 'uuid' | 'inert' | 'other';

const TEXTUAL: readonly TypeFamily[] = ['text', 'json', 'other'];

interface Rule {
  category: PersonalCategory;
  /** Word sequences (each a phrase that must appear as consecutive words of the name). */
  phrases: readonly string[];
  /** Whole words or glued forms (`firstname`, `emailaddress`): a word equal to one of these, or containing it when `contains`. */
  contains?: readonly string[];
  types: readonly TypeFamily[];
  /** Last words that still name the value for this rule, though they usually do not (`born_on`). */
  valueWords?: readonly string[];
  suggest(words: readonly string[], family: TypeFamily): string;
}

// People, as the last word of a table name or the word before `name` (`recipient_name`).
const PEOPLE = new Set([
  'customer', 'client', 'user', 'person', 'people', 'member', 'contact', 'employee', 'staff', 'patient', 'guest', 'student',
  'teacher', 'author', 'subscriber', 'applicant', 'candidate', 'recipient', 'sender', 'receiver', 'owner', 'holder',
  'cardholder', 'accountholder', 'buyer', 'seller', 'driver', 'passenger', 'parent', 'guardian', 'spouse', 'child', 'resident',
  'visitor', 'lead', 'profile', 'beneficiary', 'signatory', 'billing', 'shipping', 'father', 'mother', 'doctor', 'nurse',
  'worker', 'volunteer', 'donor', 'attendee', 'participant', 'traveler', 'traveller', 'emergency', 'signer', 'payee', 'payer',
  'consignee', 'addressee', 'physician',
]);

// Tables named for organisations: an e-mail column there does not make `name` a person's name.
const ORGANISATIONS = new Set([
  'company', 'organization', 'organisation', 'org', 'business', 'brand', 'store', 'shop', 'team', 'group', 'tenant', 'vendor',
  'supplier', 'merchant', 'partner', 'agency', 'department', 'branch', 'office', 'warehouse', 'carrier', 'bank', 'school',
]);

// A last word that makes the column about the value, not the value itself.
const ABOUT_THE_VALUE = new Set([
  'id', 'ids', 'status', 'state', 'type', 'kind', 'count', 'counter', 'total', 'verified', 'confirmed', 'enabled', 'disabled',
  'sent', 'at', 'on', 'flag', 'opt', 'optin', 'opted', 'optout', 'in', 'out', 'consent', 'consented', 'preference',
  'preferences', 'frequency', 'valid', 'validated', 'bounced', 'bounce', 'bounces', 'template', 'format', 'visible',
  'visibility', 'public', 'length', 'changed', 'updated', 'expires', 'expiry', 'required', 'allowed', 'attempts', 'attempt',
  'source', 'provider', 'domain', 'policy', 'strength', 'version', 'algorithm', 'algo', 'iterations', 'rounds', 'scheme',
  'ttl', 'lifetime', 'scope', 'scopes', 'used', 'revoked', 'last4', 'brand', 'country', 'currency', 'language', 'locale',
  'timezone', 'tz', 'label', 'hint', 'question', 'rule', 'rules', 'regex', 'pattern', 'prefix', 'suffix', 'mask', 'masked',
  'set', 'index', 'idx', 'seq', 'position', 'order', 'rank', 'score', 'code', 'file', 'url', 'uri', 'path', 'link', 'platform',
  'device', 'app', 'os', 'model', 'carrier',
]);

const RULES: readonly Rule[] = [
  {
    category: 'email',
    phrases: ['email', 'email address', 'e mail', 'e mail address', 'mail', 'mail address'],
    contains: ['email'],
    types: TEXTUAL,
    suggest: () => 'email',
  },
  {
    category: 'username',
    phrases: ['user name', 'screen name', 'login', 'login name'],
    contains: ['username', 'screenname', 'loginname'],
    types: TEXTUAL,
    suggest: () => 'username',
  },
  {
    category: 'name',
    phrases: ['first name', 'last name', 'full name', 'middle name', 'given name', 'family name', 'maiden name', 'legal name', 'nick name', 'sur name', 'fore name', 'birth name', 'preferred name', 'real name', 'christian name'],
    contains: ['firstname', 'lastname', 'fullname', 'middlename', 'givenname', 'familyname', 'maidenname', 'legalname', 'nickname', 'surname', 'forename', 'fname', 'lname', 'mname', 'initials'],
    types: TEXTUAL,
    suggest: (words) =>
      words.some((w) => /^(first|given|fore|christian|f|nick)(name)?$/.test(w) || w === 'fname' || w === 'nickname')
        ? 'firstName'
        : words.some((w) => /^(last|family|sur|maiden)(name)?$/.test(w) || w === 'lname')
          ? 'lastName'
          : 'fullName',
  },
  {
    category: 'phone',
    phrases: ['phone', 'telephone', 'tel', 'mobile', 'cell', 'fax', 'msisdn', 'whatsapp'],
    contains: ['phone', 'mobilenumber', 'cellnumber', 'faxnumber'],
    types: [...TEXTUAL, 'number'],
    suggest: () => 'phone',
  },
  {
    category: 'birth',
    phrases: ['date of birth', 'dob', 'born', 'birth'],
    contains: ['birth', 'dateofbirth'],
    types: [...TEXTUAL, 'date', 'number'],
    valueWords: ['on', 'at'],
    suggest: (_w, family) => (family === 'date' ? 'date' : family === 'number' ? 'number' : 'scramble'),
  },
  {
    category: 'network',
    phrases: ['ip', 'ip address', 'ip addr', 'ipv4', 'ipv6', 'remote addr', 'remote address', 'mac address', 'mac addr', 'client ip'],
    contains: ['ipaddress', 'ipaddr', 'macaddress', 'macaddr', 'remoteaddr'],
    types: [...TEXTUAL, 'network', 'number'],
    suggest: () => 'ip',
  },
  {
    category: 'bank',
    phrases: ['iban', 'bic', 'swift', 'swift code', 'account number', 'account no', 'account nr', 'acct no', 'acct number', 'bank account', 'routing number', 'sort code', 'bsb'],
    contains: ['iban', 'accountnumber', 'bankaccount', 'routingnumber', 'sortcode'],
    types: [...TEXTUAL, 'number'],
    suggest: (words) => (words.some((w) => w.includes('iban')) ? 'iban' : 'scramble'),
  },
  {
    category: 'card',
    phrases: ['credit card', 'debit card', 'card number', 'card no', 'card nr', 'cc number', 'cc num', 'pan', 'cvv', 'cvc', 'cvv2', 'cvc2', 'card pan'],
    contains: ['creditcard', 'debitcard', 'cardnumber', 'ccnumber'],
    types: [...TEXTUAL, 'number'],
    suggest: (words) => (words.some((w) => /^(cvv|cvc)/.test(w)) ? 'null' : 'creditCard'),
  },
  {
    category: 'government-id',
    phrases: ['ssn', 'social security', 'social security number', 'national id', 'national number', 'national insurance', 'nin', 'tax id', 'tax number', 'tax no', 'taxpayer id', 'tin', 'passport', 'passport number', 'driver license', 'drivers license', 'driving license', 'driver licence', 'drivers licence', 'driving licence', 'id number', 'id card', 'identity number', 'personal number', 'personnummer', 'national identifier', 'sin', 'nino', 'aadhaar', 'cpf', 'dni', 'nif', 'bsn'],
    contains: ['nationalid', 'taxid', 'passport', 'driverslicense', 'driverlicense', 'socialsecurity'],
    types: [...TEXTUAL, 'number'],
    suggest: () => 'scramble',
  },
  {
    category: 'address',
    phrases: ['address', 'addr', 'street', 'street address', 'address line', 'city', 'zip', 'zip code', 'zipcode', 'postcode', 'post code', 'postal code', 'postal', 'house number', 'house no'],
    contains: ['address', 'street', 'zipcode', 'postcode', 'postalcode', 'housenumber'],
    types: TEXTUAL,
    suggest: (words) =>
      words.includes('city') ? 'city' : words.some((w) => /^(zip|zipcode|postcode|postal|postalcode)$/.test(w) || w === 'post') ? 'scramble' : 'address',
  },
  {
    category: 'secret',
    phrases: ['password', 'passwd', 'pwd', 'passphrase', 'pass hash', 'secret', 'token', 'api key', 'apikey', 'private key', 'access key', 'secret key', 'signing key', 'otp', 'totp', 'mfa secret', 'recovery code', 'recovery codes', 'security answer', 'pin hash'],
    contains: ['password', 'passwd', 'apikey', 'apitoken', 'accesstoken', 'refreshtoken', 'authtoken', 'clientsecret', 'privatekey', 'accesskey'],
    types: [...TEXTUAL, 'binary'],
    suggest: (_w, family) => (family === 'binary' ? 'null' : 'hash'),
  },
];

/**
 * Whether a column looks like it holds personal data (or a secret), judged by its name and type,
 * with the reason. `table` lets a bare `name` column count on tables that hold people. Returns
 * `undefined` for a column that does not look personal.
 */
export function looksPersonal(column: ColumnLike, table?: TableLike): PersonalMatch | undefined {
  const family = typeFamily(column.type);
  const base = baseType(column.type);
  if (family === 'network') {
    return { category: 'network', reason: `type is ${base} (network addresses)`, suggestion: 'ip' };
  }
  const byName = matchWords(words(column.name), family, 'name');
  if (byName) return byName;
  if (table && isBareName(column.name)) {
    const people = holdsPeople(table);
    if (people) return { category: 'name', reason: `'${column.name}' on table ${table.name}, ${people}`, suggestion: 'fullName' };
  }
  if (family === 'other') {
    // A domain or enum named for what it holds (`email_address`, `phone_number`).
    const byType = matchWords(words(base), 'text', 'type');
    if (byType) return byType;
  }
  return undefined;
}

function matchWords(list: readonly string[], family: TypeFamily, what: 'name' | 'type'): PersonalMatch | undefined {
  if (list.length === 0) return undefined;
  // The head of a compound is its last word: `last_login_ip` is an ip, `billing_address_city` a
  // city. So the match that ends furthest right wins; on a tie, the earlier rule (`email_address`
  // is an e-mail, `ip_address` an ip).
  let best: { rule: Rule; text: string; end: number } | undefined;
  for (const rule of RULES) {
    const found = findPhrase(list, rule);
    if (found && (!best || found.end > best.end)) best = { rule, ...found };
  }
  if (!best) return undefined;
  // `email_status`, `address_id`: about the value, unless the phrase itself ends the name (`national_id`).
  const last = list[list.length - 1]!;
  const about = ABOUT_THE_VALUE.has(last) || ABOUT_THE_VALUE.has(stripDigits(last));
  if (best.end < list.length && about && !best.rule.valueWords?.includes(last)) return undefined;
  if (!best.rule.types.includes(family)) return undefined;
  return { category: best.rule.category, reason: `${what} contains '${best.text}'`, suggestion: best.rule.suggest(list, family) };
}

/** The rightmost (then longest) phrase or glued form of `rule` in `list`; `end` is the index after it. */
function findPhrase(list: readonly string[], rule: Rule): { text: string; end: number } | undefined {
  const hits: Array<{ text: string; end: number; length: number }> = [];
  for (const phrase of rule.phrases) {
    const parts = phrase.split(' ');
    for (let i = 0; i + parts.length <= list.length; i++) {
      if (parts.every((p, j) => list[i + j] === p || stripDigits(list[i + j]!) === p)) hits.push({ text: parts.join('_'), end: i + parts.length, length: parts.length });
    }
  }
  for (const glued of rule.contains ?? []) {
    list.forEach((w, i) => {
      if (w.includes(glued)) hits.push({ text: glued, end: i + 1, length: 1 });
    });
  }
  // `<someone>_name`: customer_name, recipient_name, emergency_contact_name.
  if (rule.category === 'name') {
    for (let i = 1; i < list.length; i++) {
      if (list[i] === 'name' && PEOPLE.has(singular(list[i - 1]!))) hits.push({ text: `${list[i - 1]}_name`, end: i + 1, length: 2 });
    }
  }
  hits.sort((a, b) => b.end - a.end || b.length - a.length);
  const best = hits[0];
  return best === undefined ? undefined : { text: best.text, end: best.end };
}

function isBareName(name: string): boolean {
  const list = words(name);
  return (list.length === 1 && list[0] === 'name') || (list.length === 2 && list[0] === 'display' && list[1] === 'name');
}

/** Why a table seems to hold people (`which holds people`, `next to its e-mail column 'email'`), or undefined. */
function holdsPeople(table: TableLike): string | undefined {
  const tableWords = words(table.name);
  const last = singular(tableWords[tableWords.length - 1] ?? '');
  if (PEOPLE.has(last)) return 'which holds people';
  if (ORGANISATIONS.has(last)) return undefined;
  for (const c of table.columns ?? []) {
    if (isBareName(c.name)) continue;
    const match = matchWords(words(c.name), typeFamily(c.type), 'name');
    if (match && (match.category === 'email' || match.category === 'phone')) {
      return `next to its ${match.category === 'email' ? 'e-mail' : 'phone'} column '${c.name}'`;
    }
  }
  return undefined;
}

/** An identifier in lower-case words: `signupIp` → [signup, ip]; `address_line1` → [address, line1]. */
export function words(identifier: string): string[] {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function stripDigits(word: string): string {
  // `address1`, `line2`, but not `ipv4`/`cvv2`, which the phrases spell out.
  return word.replace(/(?<=[a-z]{3,})\d+$/, '');
}

function singular(word: string): string {
  if (word === 'people') return 'person';
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

/** The type without modifiers and array brackets: `character varying(64)[]` → `character varying`. */
function baseType(type: string): string {
  return type
    .trim()
    .toLowerCase()
    .replace(/\[\]$/g, '')
    .replace(/\(.*?\)/g, '')
    .replace(/\s+with(out)? time zone$/, '')
    .replaceAll('"', '')
    .trim();
}

function typeFamily(type: string): TypeFamily {
  const base = baseType(type);
  // A schema-qualified type (`crm.email_address`) is a domain or enum; judge it by its own name.
  switch (base) {
    case 'text':
    case 'character varying':
    case 'varchar':
    case 'character':
    case 'char':
    case 'bpchar':
    case 'citext':
    case 'name':
      return 'text';
    case 'bytea':
      return 'binary';
    case 'date':
    case 'timestamp':
    case 'timestamptz':
      return 'date';
    case 'smallint':
    case 'integer':
    case 'bigint':
    case 'numeric':
    case 'decimal':
    case 'real':
    case 'double precision':
      return 'number';
    case 'inet':
    case 'cidr':
    case 'macaddr':
    case 'macaddr8':
      return 'network';
    case 'json':
    case 'jsonb':
      return 'json';
    case 'uuid':
      return 'uuid';
    default:
      return /^(boolean|time|interval|bit|money|point|line|lseg|box|path|polygon|circle|tsvector|tsquery|xml|oid|int4range|int8range|numrange|tsrange|tstzrange|daterange)\b/.test(base)
        ? 'inert'
        : 'other';
  }
}

// The import rule (`npm run lint`): floors point down. docs/architecture.md says what each floor
// holds; this file is the same plan in a form that fails when the code leaves it.
//
// A file in packages/core/src stands on one floor and imports only its own floor or lower ones.
// Inside the engine floor, `ENGINE` says which folder may use which, so the engine has no loop.

/** packages/core/src paths per floor, top to bottom. A folder ends in `/`, a file in `.ts`. */
const FLOORS = [
  ['commands', ['commands/', 'cli/', 'base-command.ts', 'command.ts', 'index.ts']],
  ['engine', ['snapshot/', 'restore/', 'promote/', 'retention/', 'notify/', 'doctor/']],
  ['services', ['plugins/', 'config/', 'migrations/', 'db/', 'format/', 'crypto/', 'tables/', 'operation-context.ts']],
  ['ground', ['contracts/', 'text/', 'errors.ts', 'abort.ts', 'fault-point.ts', 'version.ts', 'process-identity.ts']],
];

/** Which engine folders each engine folder may import (besides itself). */
const ENGINE = {
  promote: ['restore', 'snapshot'],
  restore: ['snapshot'],
  retention: ['snapshot'],
  snapshot: [],
  notify: [],
  doctor: [],
};

const CORE = '^packages/core/src/';
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// A file's unit test (`x.test.ts` beside `x.ts`) stands on the file's floor and obeys its rules.
const place = (entry) => (entry.endsWith('/') ? escape(entry) : `${escape(entry.replace(/\.ts$/, ''))}(\\.test)?\\.ts$`);
const under = (entries) => `${CORE}(${entries.map(place).join('|')})`;

const floorRules = FLOORS.slice(1).map(([name, entries], index) => {
  const above = FLOORS.slice(0, index + 1);
  return {
    name: `${name}-imports-above`,
    comment: `The ${name} floor imports only its own floor and lower ones, never ${above.map(([n]) => n).join(' or ')}.`,
    severity: 'error',
    from: { path: under(entries) },
    to: { path: under(above.flatMap(([, e]) => e)) },
  };
});

const engineRules = Object.entries(ENGINE).map(([folder, allowed]) => {
  const others = Object.keys(ENGINE).filter((f) => f !== folder && !allowed.includes(f));
  return {
    name: `engine-${folder}-imports`,
    comment: `Within the engine, ${folder}/ may import ${allowed.length ? allowed.map((f) => `${f}/`).join(' and ') : 'no other engine folder'}.`,
    severity: 'error',
    from: { path: `${CORE}${folder}/` },
    to: { path: `${CORE}(${others.join('|')})/` },
  };
});

module.exports = {
  forbidden: [
    ...floorRules,
    ...engineRules,
    {
      name: 'core-file-without-floor',
      comment: 'Every file in packages/core/src stands on a floor: add a new top-level file or folder to FLOORS in .dependency-cruiser.cjs (and docs/architecture.md).',
      severity: 'error',
      from: { path: CORE, pathNot: under(FLOORS.flatMap(([, e]) => e)) },
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'Files that import each other in a loop cannot be placed on floors.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { circular: true },
    },
    {
      name: 'oclif-outside-commands',
      comment: 'Core imports @oclif/core only in its commands and the base command (CONVENTIONS.md).',
      severity: 'error',
      from: { path: CORE, pathNot: `${CORE}(commands/|hooks/|base-command\\.ts$)` },
      to: { path: '(^|/)node_modules/@oclif/core/|^@oclif/core$' },
    },
    {
      name: 'dialect-outside-db',
      comment: 'Snapshot and restore code speaks to the driver contract (db/driver.ts); only db/ imports pg or PGlite.',
      severity: 'error',
      from: { path: CORE, pathNot: `${CORE}db/` },
      to: { path: '(^|/)node_modules/(@types/)?(pg|pg-copy-streams|knex-pglite|@electric-sql/pglite)/|^(pg|pg-copy-streams|knex-pglite|@electric-sql/pglite)(/|$)' },
    },
    {
      name: 'core-imports-a-plugin',
      comment: 'Core knows no storage, masking or notification: it asks plugins through oclif hooks.',
      severity: 'error',
      from: { path: '^packages/core/' },
      to: { path: '^packages/plugin-|(^|/)node_modules/@strata/plugin-|^@strata/plugin-' },
    },
    {
      name: 'plugin-imports-core-by-path',
      comment: 'A plugin uses core through its package entry points (`@strata/core`, `@strata/core/command`), never a core file by path.',
      severity: 'error',
      from: { path: '^packages/plugin-' },
      to: {
        path: '^packages/core/|(^|/)node_modules/@strata/core/|^@strata/core/',
        pathNot: ['^packages/core/dist/(index|command)\\.(js|d\\.ts)$', '^@strata/core/command$', '^packages/core/package\\.json$'],
      },
    },
    {
      name: 'plugin-imports-core',
      comment: 'A plugin takes contracts and errors from @strata/contracts, its run-time dependency; it does not import @strata/core (README, Writing a plugin). plugin-anonymize\'s commands still extend core\'s base command.',
      severity: 'error',
      from: { path: '^packages/plugin-', pathNot: '^packages/plugin-anonymize/src/commands/' },
      to: { path: '^packages/core/|(^|/)node_modules/@strata/core/|^@strata/core(/|$)' },
    },
    {
      name: 'plugin-imports-another-plugin',
      comment: 'A plugin imports nothing from another plugin.',
      severity: 'error',
      from: { path: '^packages/(plugin-[^/]+)/' },
      to: { path: '^packages/plugin-|(^|/)node_modules/@strata/plugin-|^@strata/plugin-', pathNot: '^packages/$1/' },
    },
  ],
  options: {
    // Sources are cruised (`npm run lint` names packages/*/src); what they reach in node_modules or
    // a built dist/ is a leaf, so a plugin's `@strata/core` lands on core's entry point and stops.
    doNotFollow: { path: ['(^|/)node_modules/', '^packages/[^/]+/dist/'] },
    // Type-only imports count: a type from a higher floor ties the floors as much as a value does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'types', 'default'],
      extensions: ['.ts', '.js', '.d.ts', '.json'],
    },
  },
};

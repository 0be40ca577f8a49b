// The checks of one kill -9 scenario, each its own test named `<scenario> | <what is checked>`,
// made on the records kill-scenario.ts took of the server and the storage. Every test first
// asserts that the process really paused at its point and died by SIGKILL, so none can pass on a
// run that was never killed.
import { describe, expect, it } from 'vitest';

import { describeRun } from '../support/cli.js';
import { foldersWithManifest, foldersWithoutManifest } from './support/checks.js';
import type { KillOutcome } from './kill-scenario.js';

/** A test waits for its scenario, which may wait for others: generous, since a hung one still ends here. */
const TEST_TIMEOUT_MS = 15 * 60_000;

/** Every check starts here: a process that was not killed at its point proves nothing. */
function expectKilledAtPoint(o: KillOutcome): void {
  expect(o.killed.reachedError, `never paused at ${o.point}`).toBeUndefined();
  expect(o.killed.result.stderr.split('\n').map((l) => l.trim()), `no marker for ${o.point}`).toContain(`strata-test-paused-at ${o.point}`);
  expect(o.killed.signal, `strata ${o.args.join(' ')} was not ended by SIGKILL: ${describeRun(o.killed.result)}`).toBe('SIGKILL');
  expect(o.killed.result.exitCode).toBe(137);
}

/** Folders that appeared during the killed run and have no manifest after it: what it left half-made. */
export function partialFolders(o: KillOutcome): Array<{ env: string; folder: string }> {
  return Object.entries(o.afterKill.folders).flatMap(([env, listing]) =>
    foldersWithoutManifest(listing)
      .filter((folder) => JSON.stringify(o.before.folders[env]?.[folder]) !== JSON.stringify(listing[folder]))
      .map((folder) => ({ env, folder })),
  );
}

/** What the killed run left for someone to clean up: work databases, partial folders, open multipart uploads. */
function leftovers(o: KillOutcome): { databases: string[]; folders: Array<{ env: string; folder: string }>; uploads: string[] } {
  return {
    databases: o.afterKill.databases.filter((d) => d.startsWith('strata_tmp_')),
    folders: partialFolders(o),
    uploads: Object.values(o.afterKill.uploads).flatMap((u) => u ?? []),
  };
}

/**
 * Registers the tests of one scenario, `<name> | <what is checked>`, each waiting for the scenario's
 * records. `command` adds the checks only some commands have (`restore --into`).
 */
export function registerChecks(name: string, command: string, outcome: () => Promise<KillOutcome>): void {
  const check = (what: string, body: (o: KillOutcome) => void | Promise<void>): void => {
    it(`${name} | ${what}`, async () => {
      const o = await outcome();
      expectKilledAtPoint(o);
      await body(o);
    }, TEST_TIMEOUT_MS);
  };

  describe(name, () => {
    check('the process paused at the point and died by SIGKILL', () => {});

    check('list and latest show no partial snapshot (each listed one has manifest.json in the storage)', (o) => {
      for (const [env, { list, latest }] of Object.entries(o.afterKill.catalogue)) {
        expect(list.exitCode, describeRun(list)).toBe(0);
        const listed = list.json<Array<{ id: string }>>().map((s) => s.id);
        const listing = o.afterKill.folders[env]!;
        expect([...listed].sort(), `${env}: list differs from the folders holding a manifest`).toEqual(foldersWithManifest(listing).sort());
        for (const partial of foldersWithoutManifest(listing)) expect(listed, `${env}: ${partial} has no manifest`).not.toContain(partial);
        if (listed.length > 0) {
          expect(latest.exitCode, describeRun(latest)).toBe(0);
          expect(latest.json<{ id: string }>().id, `${env}: latest is not the newest complete snapshot`).toBe(listed[0]);
        } else {
          expect(latest.exitCode, `${env}: latest answered with no snapshot listed: ${describeRun(latest)}`).not.toBe(0);
          for (const partial of foldersWithoutManifest(listing)) expect(latest.stdout).not.toContain(partial);
        }
      }
    });

    check('verify passes for every listed snapshot', (o) => {
      const runs = Object.entries(o.afterKill.catalogue).flatMap(([env, { verify }]) => Object.entries(verify).map(([id, run]) => ({ env, id, run })));
      expect(runs.length, 'no snapshot was listed to verify').toBeGreaterThan(0);
      for (const { env, id, run } of runs) expect(run.exitCode, `verify ${id} --env ${env}: ${describeRun(run)}`).toBe(0);
    });

    check('no database other than a strata_tmp_… one was created (pg_database, owned by the scenario\'s role)', (o) => {
      expect(o.afterKill.databases.filter((d) => !d.startsWith('strata_tmp_'))).toEqual([]);
    });

    check('the source database is unchanged (per-table checksums and sequences)', (o) => {
      expect(o.afterKill.source).toEqual(o.before.source);
    });

    if (command === 'restore --into') {
      check('the --into target is unchanged (per-table checksums and sequences)', (o) => {
        expect(o.before.into, 'no checksums of the --into target').toBeDefined();
        expect(o.afterKill.into).toEqual(o.before.into);
      });
    }

    check('the next run of the same command succeeds', async (o) => {
      expect(o.next.result.exitCode, describeRun(o.next.result)).toBe(0);
      await o.checkNextRun();
    });

    if (command === 'restore --into') {
      check('the killed run left no database and only its complete safety snapshot', async (o) => {
        expect(o.afterKill.databases).toEqual([]);
        expect(partialFolders(o)).toEqual([]);
        const added = Object.entries(o.afterKill.folders).flatMap(([env, listing]) =>
          Object.keys(listing).filter((f) => !(f in (o.before.folders[env] ?? {}))).map((folder) => ({ env, folder })),
        );
        expect(added.length, 'the killed run wrote no safety snapshot before its transaction').toBe(1);
        const catalogue = o.afterKill.catalogue[added[0]!.env]!;
        const summary = catalogue.list.json<Array<{ id: string; tags: string[] }>>().find((s) => s.id === added[0]!.folder);
        expect(summary?.tags, `${added[0]!.folder} is not a listed safety snapshot`).toContain('safety');
      });
    } else {
      check('the next run removes what the killed run left, at once (work databases, partial folders, open uploads)', (o) => {
        const left = leftovers(o);
        expect(left.databases.length + left.folders.length + left.uploads.length, `the killed run left nothing to clean up (s3rver lists no multipart uploads): ${JSON.stringify(o.afterKill.folders)}`).toBeGreaterThan(0);
        expect(o.afterKill.sessionsLeft, 'the server still had sessions of the killed process').toBe(0);
        expect(o.next.result.exitCode, describeRun(o.next.result)).toBe(0);
        // Any restore drops the dead work databases of the whole server, so on a shared test server
        // another file's restore may drop one first: the same code path, so the check still holds.
        expect(o.next.databases.filter((d) => d.startsWith('strata_tmp_')), 'work databases left after the next run').toEqual([]);
        for (const { env, folder } of left.folders) {
          const files = o.next.folders[env]?.[folder];
          if (files === undefined) continue;
          // The next run may finish the same snapshot (a copy keeps its id); then nothing may be left over in it.
          expect(files, `${env}/${folder} is still there without a manifest: ${JSON.stringify(files)}`).toContain('manifest.json');
          expect(files.filter((f) => f.endsWith('.strata-tmp')), `${env}/${folder} holds in-flight files`).toEqual([]);
        }
        for (const [env, uploads] of Object.entries(o.next.uploads)) expect(uploads ?? [], `${env}: multipart uploads left open`).toEqual([]);
      });
    }
  });
}

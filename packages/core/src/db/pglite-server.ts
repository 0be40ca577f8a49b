import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseError } from '../errors.js';
import { currentProcess, ownerStatus, type ProcessIdentity } from '../process-identity.js';
import type { DatabaseServer } from './driver.js';
import { acquire, assertUnlocked, lockHolder, memoryExists, release, renameMemory, shut } from './pglite-instances.js';

/** Prefix of the directories (or memory names) restores build in. */
const WORK_PREFIX = '.strata_tmp_';
/** In a work directory until `promote`: says the database is incomplete. */
export const INCOMPLETE_MARKER = 'strata-incomplete';
/** Work databases younger than this whose owner cannot be proven gone may belong to a restore still running. */
const ABANDONED_AFTER_MS = 10 * 60_000;
/** The marker's line naming the owning process (a `ProcessIdentity` as JSON). */
const OWNER_LINE = 'owner ';

/** The owner a marker names, or undefined for an older strata's marker or a damaged one. */
function markerOwner(text: string): ProcessIdentity | undefined {
  const line = text.split('\n').find((l) => l.startsWith(OWNER_LINE));
  if (!line) return undefined;
  try {
    const owner = JSON.parse(line.slice(OWNER_LINE.length)) as Partial<ProcessIdentity>;
    return typeof owner.pid === 'number' && typeof owner.host === 'string' ? (owner as ProcessIdentity) : undefined;
  } catch {
    return undefined;
  }
}

function workName(): string {
  return `${WORK_PREFIX}${randomBytes(6).toString('hex')}`;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
}

function exists(finalName: string, where: string): DatabaseError {
  return new DatabaseError(`The database "${finalName}" already exists in ${where}.`, {
    code: 'database-exists',
    hint: 'Choose another target name, or replace it explicitly.',
  });
}

/** The databases of a PGlite "server": the data directories in one parent directory. */
export class DirectoryServer implements DatabaseServer {
  constructor(private readonly parent: string) {}

  get description(): string {
    return this.parent;
  }

  private dir(name: string): string {
    return join(this.parent, name);
  }

  /** A directory that PGlite has initialised (it has `PG_VERSION`). */
  async exists(database: string): Promise<boolean> {
    return existsSync(join(this.dir(database), 'PG_VERSION'));
  }

  /**
   * A new, empty sibling directory with the incomplete marker, which names the owning process
   * (so a later restore can prove it gone); initdb runs when it is first opened.
   */
  async createWork(finalName: string): Promise<string> {
    const name = workName();
    mkdirSync(this.dir(name));
    writeFileSync(
      join(this.dir(name), INCOMPLETE_MARKER),
      `Work database of a strata restore into ${finalName}; incomplete.\n${OWNER_LINE}${JSON.stringify(currentProcess())}\n`,
    );
    return name;
  }

  async drop(database: string): Promise<void> {
    const dir = this.dir(database);
    await shut(`dir:${dir}`);
    assertUnlocked(dir);
    rmSync(dir, { recursive: true, force: true });
  }

  async dropAbandoned(): Promise<string[]> {
    const dropped: string[] = [];
    let names: string[];
    try {
      names = readdirSync(this.parent);
    } catch {
      return dropped;
    }
    for (const name of names) {
      if (!name.startsWith(WORK_PREFIX)) continue;
      const dir = this.dir(name);
      try {
        const marker = join(dir, INCOMPLETE_MARKER);
        if (lockHolder(dir) !== undefined) continue;
        const owner = markerOwner(readFileSync(marker, 'utf8'));
        const status = owner ? ownerStatus(owner) : 'unknown';
        if (status === 'running') continue;
        // Only an owner that cannot be proven gone (another machine sharing the directory, or an
        // older strata that did not write its name) gets the benefit of the age rule.
        if (status === 'unknown' && Date.now() - statSync(marker).mtimeMs < ABANDONED_AFTER_MS) continue;
      } catch {
        continue; // no marker: not ours to remove
      }
      await shut(`dir:${dir}`);
      rmSync(dir, { recursive: true, force: true });
      dropped.push(name);
    }
    return dropped;
  }

  /**
   * Closes both instances and renames directories: `rename` is atomic on one file system. With
   * `replace` the old database goes aside to `<final>_replaced_<stamp>` and comes back if the swap fails.
   */
  async promote(work: string, finalName: string, replace: boolean): Promise<string | undefined> {
    const workDir = this.dir(work);
    const finalDir = this.dir(finalName);
    await shut(`dir:${workDir}`);
    await shut(`dir:${finalDir}`);
    assertUnlocked(workDir);
    let aside: string | undefined;
    if (existsSync(finalDir)) {
      if (!replace) throw exists(finalName, this.parent);
      assertUnlocked(finalDir);
      aside = `${finalName}_replaced_${stamp()}`;
      renameSync(finalDir, this.dir(aside));
    }
    try {
      renameSync(workDir, finalDir);
    } catch (error) {
      if (aside) renameSync(this.dir(aside), finalDir);
      throw error;
    }
    rmSync(join(finalDir, INCOMPLETE_MARKER), { force: true });
    return aside;
  }

  async close(): Promise<void> {}
}

/** The in-memory databases of this process, by name. */
export class MemoryServer implements DatabaseServer {
  readonly description = 'memory';

  async exists(database: string): Promise<boolean> {
    return memoryExists(database);
  }

  /** Boots the work database now (memory databases exist only while open). */
  async createWork(_finalName: string): Promise<string> {
    const name = workName();
    const instance = await acquire({ key: `memory:${name}`, memory: true, server: 'memory', database: name, dir: '' });
    await release(instance);
    return name;
  }

  async drop(database: string): Promise<void> {
    await shut(`memory:${database}`);
  }

  /** Memory databases die with their process: nothing is ever abandoned across runs. */
  async dropAbandoned(): Promise<string[]> {
    return [];
  }

  async promote(work: string, finalName: string, replace: boolean): Promise<string | undefined> {
    let aside: string | undefined;
    if (memoryExists(finalName)) {
      if (!replace) throw exists(finalName, 'memory');
      aside = `${finalName}_replaced_${stamp()}`;
      await renameMemory(finalName, aside);
    }
    await renameMemory(work, finalName);
    return aside;
  }

  async close(): Promise<void> {}
}

import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import semver from 'semver';
import type { StorageDriver } from '../contracts/storage.js';
import { IntegrityError, isNotFound, StorageError } from '../errors.js';
import { faultPointStream } from '../fault-point.js';
import { FORMAT_VERSION, MANIFEST_FILE, manifestSchemaV1, manifestSchemaV1Newer, type Manifest } from './manifest-schema.js';

/** Storage prefix holding every snapshot of one environment: `<project>/<env>/`. */
export function environmentPrefix(project: string, env: string): string {
  return `${project}/${env}/`;
}

/** Storage prefix of one snapshot: `<project>/<env>/<id>/`. */
export function snapshotPrefix(project: string, env: string, id: string): string {
  return `${environmentPrefix(project, env)}${id}/`;
}

/**
 * File name of a table's data inside the snapshot. Dots and slashes inside names are
 * percent-encoded so `a.b` + `c` and `a` + `b.c` never share a file.
 */
export function dataFileName(schema: string, table: string): string {
  const encode = (s: string): string => encodeURIComponent(s).replace(/\./g, '%2E');
  return `data/${encode(schema)}.${encode(table)}.copy.gz`;
}

/**
 * Validates a parsed manifest. Accepts any 1.x `formatVersion`; a newer major is refused with a
 * hint to upgrade, since its layout may differ in ways this reader cannot know.
 */
export function parseManifest(raw: unknown, where: string): Manifest {
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'string' && semver.valid(version) && semver.major(version) !== semver.major(FORMAT_VERSION)) {
    throw new IntegrityError(`The snapshot at ${where} has format ${version}, which this strata (format ${FORMAT_VERSION}) cannot read.`, {
      code: 'manifest-format-unsupported',
      hint: semver.gt(version, FORMAT_VERSION)
        ? 'Upgrade strata to a version that writes this format.'
        : 'Use the older strata release that wrote this snapshot.',
    });
  }
  const newer = typeof version === 'string' && semver.valid(version) !== null && semver.gt(version, FORMAT_VERSION);
  const parsed = (newer ? manifestSchemaV1Newer : manifestSchemaV1).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new IntegrityError(
      `The manifest at ${where} is invalid: ${issue?.path.join('.') || 'its root'} ${issue?.message ?? 'does not match the format'}.`,
      { code: 'manifest-invalid', hint: 'The snapshot is damaged; restore another one (`strata list`).' },
    );
  }
  return parsed.data;
}

/** Reads and validates a snapshot's manifest; a missing manifest means "no such snapshot". */
export async function readManifest(storage: StorageDriver, prefix: string, id: string): Promise<Manifest> {
  const key = `${prefix}${MANIFEST_FILE}`;
  const where = `${storage.location.replace(/\/$/, '')}/${prefix}`;
  let body: string;
  try {
    body = await text(await storage.read(key));
  } catch (error) {
    if (isNotFound(error)) {
      throw new StorageError(`No snapshot "${id}" exists at ${where.replace(/[^/]+\/$/, '')}.`, {
        code: 'snapshot-not-found',
        hint: 'Run `strata list` to see the snapshots of this environment.',
        cause: error,
      });
    }
    throw error;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    throw new IntegrityError(`The manifest at ${where} is not valid JSON (it may be truncated).`, {
      code: 'manifest-unreadable',
      hint: 'The snapshot is damaged; restore another one (`strata list`).',
      cause: error,
    });
  }
  return parseManifest(raw, where);
}

/** Writes the manifest: the last object of a snapshot, which makes it exist. */
export async function writeManifest(storage: StorageDriver, prefix: string, manifest: Manifest, signal?: AbortSignal): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const half = Math.floor(body.length / 2);
  const paused = faultPointStream('snapshot:manifest', { afterBytes: half, signal });
  const source = Readable.from([body.subarray(0, half), body.subarray(half)]);
  await storage.write(`${prefix}${MANIFEST_FILE}`, paused ? source.pipe(paused) : source, { signal });
}

import { Readable } from 'node:stream';
import semver from 'semver';
import type { StorageDriver } from '../contracts/storage.js';
import { IntegrityError, isNotFound, StorageError } from '../errors.js';
import { faultPointStream } from '../fault-point.js';
import { FORMAT_VERSION, MANIFEST_FILE, manifestSchemaV1, manifestSchemaV1Newer, type Manifest } from './manifest-schema.js';

export { dataFileName } from './manifest-schema.js';

/**
 * The most bytes of a manifest strata reads. A real one holds about a kilobyte per table; anything
 * near this is not a manifest, and reading stops here instead of buffering whatever the storage holds.
 */
export const MAX_MANIFEST_BYTES = 32 * 1024 * 1024;

/** Storage prefix holding every snapshot of one environment: `<project>/<env>/`. */
export function environmentPrefix(project: string, env: string): string {
  return `${project}/${env}/`;
}

/** Storage prefix of one snapshot: `<project>/<env>/<id>/`. */
export function snapshotPrefix(project: string, env: string, id: string): string {
  return `${environmentPrefix(project, env)}${id}/`;
}

/**
 * Validates a parsed manifest. Accepts any 1.x `formatVersion`; a newer major, or a manifest whose
 * `readerVersion` is newer than this build's format, is refused with a hint to upgrade, since its
 * layout may differ in ways this reader cannot know.
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
  // A newer minor that changes how its files must be read (not only adds keys a reader may drop)
  // says so in `readerVersion`: the oldest format a reader must know. This build refuses it with the
  // same sentence as a newer major, rather than misread it.
  const needs = (raw as { readerVersion?: unknown } | null)?.readerVersion;
  if (typeof needs === 'string' && semver.valid(needs) && semver.gt(needs, FORMAT_VERSION)) {
    throw new IntegrityError(`The snapshot at ${where} has format ${typeof version === 'string' ? version : needs}, which this strata (format ${FORMAT_VERSION}) cannot read.`, {
      code: 'manifest-format-unsupported',
      hint: 'Upgrade strata to a version that writes this format.',
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

/**
 * Reads and validates the manifest of the snapshot folder `id` (at `prefix`); a missing manifest
 * means "no such snapshot". The folder, the manifest and the files must agree: a manifest naming
 * another id is refused (it would restore that snapshot's files), and so is one larger than
 * `MAX_MANIFEST_BYTES`, which is never read further than that.
 */
export async function readManifest(storage: StorageDriver, prefix: string, id: string): Promise<Manifest> {
  return (await readManifestText(storage, prefix, id)).manifest;
}

/**
 * `readManifest`, also returning the manifest's bytes as stored (as text), for `copy`, which
 * writes them to the target unchanged. The same size cap and checks apply.
 */
export async function readManifestText(storage: StorageDriver, prefix: string, id: string): Promise<{ manifest: Manifest; text: string }> {
  const key = `${prefix}${MANIFEST_FILE}`;
  const where = `${storage.location.replace(/\/$/, '')}/${prefix}`;
  let body: string;
  try {
    const bytes = await readAtMost(await storage.read(key), MAX_MANIFEST_BYTES);
    if (bytes === undefined) {
      throw new IntegrityError(`The manifest at ${where} is larger than ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB, the most strata reads of a manifest.`, {
        code: 'manifest-too-large',
        hint: 'The snapshot is damaged or was not written by strata; restore another one (`strata list`).',
      });
    }
    body = bytes.toString('utf8');
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
  const manifest = parseManifest(raw, where);
  if (manifest.id !== id) {
    throw new IntegrityError(`The manifest at ${where} names snapshot ${manifest.id}, not ${id}, the folder it is in.`, {
      code: 'manifest-id-mismatch',
      hint: 'The snapshot is damaged or was moved by hand; restore another one (`strata list`), or move the folder back to its id.',
    });
  }
  return { manifest, text: body };
}

/** The whole stream, or undefined (and the stream destroyed) as soon as it passes `max` bytes. */
async function readAtMost(stream: Readable, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Leaving the loop early destroys the stream, which stops the read (an S3 GET is aborted).
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += buffer.length;
    if (total > max) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Writes the manifest: the last object of a snapshot, which makes it exist. */
export async function writeManifest(storage: StorageDriver, prefix: string, manifest: Manifest, signal?: AbortSignal): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const half = Math.floor(body.length / 2);
  const paused = faultPointStream('snapshot:manifest', { afterBytes: half, signal });
  const source = Readable.from([body.subarray(0, half), body.subarray(half)]);
  await storage.write(`${prefix}${MANIFEST_FILE}`, paused ? source.pipe(paused) : source, { signal });
}

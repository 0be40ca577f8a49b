// Lease objects written by hand, for folders whose owner is dead, expired or alive elsewhere:
// what a killed capture, a stalled one on another machine, or a running one would leave.
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import type { StorageDriver } from '../../packages/core/src/index.js';
import { currentProcess } from '../../packages/core/src/process-identity.js';
import type { LeaseRecord } from '../../packages/core/src/snapshot/snapshot-lease.js';

/**
 * A process that really ran on this machine and has exited: its pid and start time, read by the
 * process itself from /proc. Even if the pid is reused meanwhile, the start time tells them apart.
 */
export function exitedProcess(): { pid: number; pidStartedAt: string } {
  const run = spawnSync(process.execPath, ['-e', "const s = require('fs').readFileSync('/proc/self/stat', 'utf8'); process.stdout.write(JSON.stringify({ pid: process.pid, start: s.slice(s.lastIndexOf(')') + 2).split(' ')[19] }))"], { encoding: 'utf8' });
  const { pid, start } = JSON.parse(run.stdout) as { pid: number; start: string };
  return { pid, pidStartedAt: start };
}

const HOUR = 3_600_000;

/**
 * A lease record: `dead` (a process of this machine that has exited), `expired` (another
 * machine's, not refreshed for an hour), `live` (another machine's, refreshed a moment ago).
 */
export function leaseRecord(kind: 'dead' | 'expired' | 'live', operation: LeaseRecord['operation'] = 'snapshot'): LeaseRecord {
  const now = Date.now();
  const elsewhere = { host: 'elsewhere', bootId: '00000000-0000-4000-8000-000000000000', pidNamespace: 'pid:[1]', pid: 4242, pidStartedAt: '1' };
  const owner = kind === 'dead' ? { ...currentProcess(), ...exitedProcess() } : elsewhere;
  const refreshed = kind === 'expired' ? now - HOUR : now;
  return {
    operation,
    ...owner,
    startedAt: new Date(now - 2 * HOUR).toISOString(),
    refreshedAt: new Date(refreshed).toISOString(),
    expiresAt: new Date(refreshed + 2 * 60_000).toISOString(),
  };
}

/** Writes `record` as a lease object into `folder` (a key ending in `/`); returns its key. */
export async function putLease(storage: StorageDriver, folder: string, record: LeaseRecord, token = `${Math.random().toString(16).slice(2)}`): Promise<string> {
  const key = `${folder}lease-${token}.json`;
  await storage.write(key, Readable.from([Buffer.from(JSON.stringify(record))]));
  return key;
}

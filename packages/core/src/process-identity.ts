import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

/**
 * Who owns a piece of work in progress (a snapshot folder's lease, a PGlite work directory), in
 * enough detail for another strata process to prove the owner dead: a pid alone is not enough,
 * since pids are reused, and the same pid on another machine or in another container is another
 * process altogether.
 */
export interface ProcessIdentity {
  /** `os.hostname()`, for messages. Never used alone as proof: two machines may share a name. */
  host: string;
  /** Linux: `/proc/sys/kernel/random/boot_id`, one value per kernel boot (shared by its containers). */
  bootId?: string;
  /** Linux: the pid namespace (`/proc/self/ns/pid`, e.g. `pid:[4026531836]`): one per container. */
  pidNamespace?: string;
  pid: number;
  /** Linux: the process's start time in clock ticks after boot (`/proc/<pid>/stat`, field 22): defeats pid reuse. */
  pidStartedAt?: string;
}

/** What another process can tell about an owner. */
export type OwnerStatus =
  /** The owner runs in this kernel and pid namespace, with the same start time. */
  | 'running'
  /** Provably gone: same kernel boot and pid namespace, and the pid is free, a zombie, or another process. */
  | 'gone'
  /** Another machine, container or boot, or a platform without /proc: only an expiry can tell. */
  | 'unknown';

let current: ProcessIdentity | undefined;

/** This process's identity (computed once). */
export function currentProcess(): ProcessIdentity {
  current ??= {
    host: os.hostname(),
    ...optional('bootId', readTrimmed('/proc/sys/kernel/random/boot_id')),
    ...optional('pidNamespace', readLink('/proc/self/ns/pid')),
    pid: process.pid,
    ...optional('pidStartedAt', processStartTime(process.pid)),
  };
  return current;
}

/**
 * Whether the process `owner` describes still runs, as far as this process can prove. Only a
 * process in the same kernel boot and the same pid namespace can be proven gone; everything else
 * is `unknown`.
 */
export function ownerStatus(owner: ProcessIdentity): OwnerStatus {
  const self = currentProcess();
  if (!self.bootId || !self.pidNamespace || owner.bootId !== self.bootId || owner.pidNamespace !== self.pidNamespace) return 'unknown';
  if (owner.pid === self.pid) return owner.pidStartedAt === undefined || owner.pidStartedAt === self.pidStartedAt ? 'running' : 'gone';
  const stat = readStat(owner.pid);
  if (stat === undefined) return pidExists(owner.pid) ? 'running' : 'gone';
  // A zombie has exited; only its parent has not collected it yet.
  if (stat.state === 'Z' || stat.state === 'X') return 'gone';
  if (owner.pidStartedAt !== undefined && stat.startTime !== owner.pidStartedAt) return 'gone';
  return 'running';
}

/** The start time of `pid` (clock ticks after boot), when /proc tells it. */
export function processStartTime(pid: number): string | undefined {
  return readStat(pid)?.startTime;
}

/** State and start time from `/proc/<pid>/stat`; the command name in parentheses may hold spaces. */
function readStat(pid: number): { state: string; startTime: string } | undefined {
  const text = readTrimmed(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields after the name start at field 3 (state); starttime is field 22.
  const state = fields[0];
  const startTime = fields[19];
  return state && startTime && /^\d+$/.test(startTime) ? { state, startTime } : undefined;
}

/** Whether a process with this pid exists on this machine (any user's). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, and belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function readLink(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch {
    return undefined;
  }
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

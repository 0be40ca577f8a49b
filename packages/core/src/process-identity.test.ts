import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

import { currentProcess, ownerStatus, processStartTime } from './process-identity.js';

const linux = process.platform === 'linux';

describe.runIf(linux)('process identity', () => {
  it('describes this process fully on Linux, and finds it running', () => {
    const self = currentProcess();
    expect(self.pid).toBe(process.pid);
    expect(self.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(self.pidNamespace).toMatch(/^pid:\[\d+\]$/);
    expect(self.pidStartedAt).toMatch(/^\d+$/);
    expect(ownerStatus(self)).toBe('running');
  });

  it('tells a running process from one that exited, and from a reused pid', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
    const owner = { ...currentProcess(), pid: child.pid!, pidStartedAt: processStartTime(child.pid!)! };
    expect(owner.pidStartedAt).toMatch(/^\d+$/);
    expect(ownerStatus(owner)).toBe('running');
    // Same pid, another start time: the pid now belongs to someone else.
    expect(ownerStatus({ ...owner, pidStartedAt: String(Number(owner.pidStartedAt) + 1) })).toBe('gone');
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(ownerStatus(owner)).toBe('gone');
    // This pid with another start time: an earlier process that had it.
    expect(ownerStatus({ ...currentProcess(), pidStartedAt: '1' })).toBe('gone');
  });

  it('cannot prove anything about another machine, container or boot', () => {
    const exited = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const dead = { ...currentProcess(), pid: Number(exited.stdout) };
    expect(ownerStatus(dead)).toBe('gone');
    expect(ownerStatus({ ...dead, bootId: '00000000-0000-4000-8000-000000000000' })).toBe('unknown');
    expect(ownerStatus({ ...dead, pidNamespace: 'pid:[1]' })).toBe('unknown');
    // A platform without /proc writes neither: the same host name proves nothing.
    const { bootId: _b, pidNamespace: _n, ...bare } = dead;
    expect(ownerStatus(bare)).toBe('unknown');
  });
});

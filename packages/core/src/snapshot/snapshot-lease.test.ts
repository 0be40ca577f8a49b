import { describe, expect, it } from 'vitest';

import { currentProcess } from '../process-identity.js';
import { folderOwner, isLeaseName, leaseState, type FoundLease, type LeaseRecord } from './snapshot-lease.js';

const NOW = Date.parse('2030-06-15T12:00:00Z');

function record(overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    operation: 'snapshot',
    host: 'elsewhere',
    bootId: '00000000-0000-4000-8000-000000000000',
    pidNamespace: 'pid:[1]',
    pid: 4242,
    pidStartedAt: '1',
    startedAt: new Date(NOW - 3_600_000).toISOString(),
    refreshedAt: new Date(NOW - 10_000).toISOString(),
    expiresAt: new Date(NOW + 110_000).toISOString(),
    ...overrides,
  };
}

function found(state: FoundLease['state']): FoundLease {
  return { name: `lease-${state}.json`, record: record(), state };
}

describe('leaseState', () => {
  it("is live while another machine's lease has not expired, and expired after", () => {
    expect(leaseState(record(), NOW)).toBe('live');
    expect(leaseState(record(), NOW + 110_001)).toBe('expired');
  });

  it('is dead at once when the owner is a gone process of this machine, whatever the expiry', () => {
    expect(leaseState(record({ ...currentProcess(), pidStartedAt: '1' }), NOW)).toBe(process.platform === 'linux' ? 'dead' : 'live');
  });

  it("is live for this very process, and an expiry that does not parse never keeps a folder", () => {
    expect(leaseState(record({ ...currentProcess(), expiresAt: new Date(Date.now() + 60_000).toISOString() }))).toBe('live');
    expect(leaseState(record({ expiresAt: 'soon' }), NOW)).toBe('expired');
  });
});

describe('folderOwner', () => {
  it('is live if any lease is, abandoned if all are dead or expired, unknown without leases', () => {
    expect(folderOwner({ manifest: false, removing: true, leases: [found('dead'), found('live')] })).toBe('live');
    expect(folderOwner({ manifest: false, removing: false, leases: [found('dead'), found('expired')] })).toBe('abandoned');
    expect(folderOwner({ manifest: false, removing: false, leases: [] })).toBe('unknown');
    // A prune marked it and died before finishing: removed at once, as a dead writer's would be.
    expect(folderOwner({ manifest: false, removing: true, leases: [] })).toBe('abandoned');
  });
});

it('names lease objects lease-<token>.json, and nothing else', () => {
  expect(isLeaseName('lease-0123abcd.json')).toBe(true);
  expect(isLeaseName('manifest.json')).toBe(false);
  expect(isLeaseName('data')).toBe(false);
  expect(isLeaseName('lease-x.json.strata-tmp')).toBe(false);
});

import { describe, expect, it } from 'vitest';

import { isFileUrl, resolveFileUrl } from './file-url.js';

describe('resolveFileUrl', () => {
  const base = '/srv/app';

  it.each([
    ['file:///var/backups/strata', '/var/backups/strata'],
    ['file://localhost/var/backups', '/var/backups'],
    ['file:///with%20space/dir', '/with space/dir'],
    ['file://./.strata/snapshots', '/srv/app/.strata/snapshots'],
    ['file://../shared/snaps', '/srv/shared/snaps'],
    ['file:snapshots', '/srv/app/snapshots'],
    ['file:./snapshots/', '/srv/app/snapshots'],
    ['FILE:///upper/case', '/upper/case'],
  ])('%s → %s', (url, expected) => {
    expect(resolveFileUrl(url, base)).toBe(expected);
  });

  it('refuses a URL with a remote host', () => {
    expect(() => resolveFileUrl('file://fileserver/share', base)).toThrow(expect.objectContaining({ code: 'storage-url-invalid' }));
  });

  it('refuses an empty path', () => {
    expect(() => resolveFileUrl('file:', base)).toThrow(expect.objectContaining({ code: 'storage-url-invalid' }));
  });

  it('recognises only the file scheme', () => {
    expect(isFileUrl('file:///x')).toBe(true);
    expect(isFileUrl('s3://bucket')).toBe(false);
    expect(isFileUrl('./file:x')).toBe(false);
  });
});

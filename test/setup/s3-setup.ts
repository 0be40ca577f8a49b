// Starts the S3 protocol servers the storage tests run against and hands their settings to the
// tests (`inject('s3Servers')`): always s3rver on 127.0.0.1 (a real server, in a child process
// because it needs --openssl-legacy-provider), and MinIO in a throwaway container when a Docker
// engine answers. @testcontainers/minio is not used: its only v12 release needs testcontainers
// 12.1, which needs Node 22; testcontainers' GenericContainer runs the same image.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { dockerAnswers } from './global-setup.js';
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver } from './s3rver.mjs';

/** How the tests reach one S3 protocol server. */
export interface S3TestServer {
  /** `s3rver` or `minio`: part of test names. */
  name: string;
  /** http://127.0.0.1:PORT */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Every S3 protocol server of this run; s3rver is always first. */
    s3Servers: S3TestServer[];
  }
}

const MINIO_IMAGE = 'minio/minio:RELEASE.2025-04-22T22-12-26Z';

/** Starts s3rver (test/setup/s3rver.mjs) in a temporary directory. */
export async function startS3rverForTests(): Promise<{ server: S3TestServer; stop: () => Promise<void> }> {
  const { endpoint, stop } = await startS3rver(await mkdtemp(path.join(tmpdir(), 'strata-s3rver-')));
  return { server: { name: 's3rver', endpoint, region: S3RVER_REGION, ...S3RVER_CREDENTIALS }, stop };
}

async function startMinio(): Promise<{ server: S3TestServer; stop: () => Promise<void> }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const user = 'strata-test';
  const password = 'strata-test-secret';
  const container = await new GenericContainer(MINIO_IMAGE)
    .withEnvironment({ MINIO_ROOT_USER: user, MINIO_ROOT_PASSWORD: password })
    .withCommand(['server', '/data'])
    .withExposedPorts(9000)
    .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
    .withStartupTimeout(120_000)
    .start();
  return {
    server: {
      name: 'minio',
      endpoint: `http://${container.getHost()}:${container.getMappedPort(9000)}`,
      region: 'us-east-1',
      accessKeyId: user,
      secretAccessKey: password,
    },
    stop: async () => {
      await container.stop();
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  const servers: S3TestServer[] = [];
  const s3rver = await startS3rverForTests();
  stops.push(s3rver.stop);
  servers.push(s3rver.server);
  if (process.env.STRATA_TEST_DOCKER !== '0' && (await dockerAnswers(project.config.root))) {
    try {
      const minio = await startMinio();
      stops.push(minio.stop);
      servers.push(minio.server);
    } catch (error) {
      console.log(`[strata tests] MinIO: Docker answered but the container did not start (${(error as Error).message}); S3 tests run on s3rver only.`);
    }
  } else {
    console.log('[strata tests] MinIO: no Docker engine; S3 tests run on s3rver only.');
  }
  console.log(`[strata tests] S3: ${servers.map((s) => `${s.name} at ${s.endpoint}`).join(', ')}`);
  project.provide('s3Servers', servers);
  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
}

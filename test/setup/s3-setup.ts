// Starts the S3 protocol servers the storage tests run against and hands their settings to the
// tests (`inject('s3Servers')`): always s3rver on 127.0.0.1 (a real server, in a child process
// because it needs --openssl-legacy-provider), and MinIO in a throwaway container when a Docker
// engine answers. @testcontainers/minio is not used: its only v12 release needs testcontainers
// 12.1, which needs Node 22; testcontainers' GenericContainer runs the same image.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { dockerAnswers } from './global-setup.js';

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

const READY_TIMEOUT_MS = 20_000;
const MINIO_IMAGE = 'minio/minio:RELEASE.2025-04-22T22-12-26Z';

/** Starts s3rver in a child process and resolves once it listens. */
export async function startS3rver(): Promise<{ server: S3TestServer; stop: () => Promise<void> }> {
  const directory = await mkdtemp(path.join(tmpdir(), 'strata-s3rver-'));
  const script = fileURLToPath(new URL('./s3rver-process.mjs', import.meta.url));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, directory], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /S3RVER_READY (\d+)/.exec(out);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with code ${code} before it listened`));
      });
    });
    return {
      // s3rver accepts only its own access key id; it does not check SigV4 signatures, so a wrong
      // secret is accepted (the plugin tests cover SignatureDoesNotMatch through the fault proxy).
      server: { name: 's3rver', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
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
  const s3rver = await startS3rver();
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

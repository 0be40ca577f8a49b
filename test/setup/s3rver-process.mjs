// Runs s3rver, a real S3 protocol server, for the tests. Started by test/setup/s3-setup.ts as a
// child process because s3rver needs `node --openssl-legacy-provider` (without it, paged
// listings answer 500) and the test process itself must not run with that flag.
// Usage: node --openssl-legacy-provider s3rver-process.mjs <directory>
// Prints one line `S3RVER_READY <port>` on stdout once it listens on 127.0.0.1.
import S3rver from 's3rver';

const directory = process.argv[2];
if (!directory) {
  console.error('usage: s3rver-process.mjs <directory>');
  process.exit(2);
}

const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
const { port } = await server.run();
process.stdout.write(`S3RVER_READY ${port}\n`);

const stop = () => {
  server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The parent (vitest) went away without stopping us: do not outlive it.
process.stdin.on('end', stop);
process.stdin.resume();

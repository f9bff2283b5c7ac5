/**
 * s3rver in its own process, so that its CPU is not the bench's: prints one line
 * `S3RVER {"endpoint":…}` once listening and stops (removing its data) on SIGTERM.
 * Started by bench/s3.ts with `node --require tsx/cjs`.
 */
import { startS3Server } from '../test/support/s3';

async function main(): Promise<void> {
  const server = await startS3Server();
  process.stdout.write(`S3RVER ${JSON.stringify({ endpoint: server.endpoint, accessKey: server.accessKey, secretKey: server.secretKey, region: server.region })}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`s3rver failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

import { join } from 'node:path';
import { REPO_ROOT } from './glint';
import { runOk, startService, sleep, tailFile, TSX_CJS, type Service } from './proc';

export interface S3Reference {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  service: Service;
  stop(): Promise<void>;
}

/** s3rver (with test/support/s3.ts's fixes) in a child process on a random loopback port. */
export async function startS3rver(dir: string): Promise<S3Reference> {
  const logFile = join(dir, 's3rver.log');
  const service = startService('s3rver', process.execPath, [...TSX_CJS, join(REPO_ROOT, 'bench/s3rver-child.ts')], {
    cwd: dir,
    logFile,
    env: { ...process.env, TMPDIR: dir },
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const line = tailFile(logFile, 50)
      .split('\n')
      .find((l) => l.startsWith('S3RVER '));
    if (line) {
      const info = JSON.parse(line.slice('S3RVER '.length)) as { endpoint: string; accessKey: string; secretKey: string };
      return { ...info, service, stop: () => service.stop() };
    }
    if (service.child.exitCode !== null || Date.now() > deadline) {
      await service.stop();
      throw new Error(`s3rver did not start; log ${logFile}:\n${tailFile(logFile, 30)}`);
    }
    await sleep(100);
  }
}

/** One direct lib-storage/SDK operation in a separate process; seconds are measured inside it. */
export async function s3Direct(op: 'put' | 'get' | 'delete', s3: S3Reference, bucket: string, key: string, file = ''): Promise<{ bytes: number; seconds: number }> {
  const out = await runOk(process.execPath, [...TSX_CJS, join(REPO_ROOT, 'bench/s3-client.ts'), op, s3.endpoint, bucket, key, file, '10', '10'], {
    timeoutMs: 1_800_000,
  });
  const line = out.split('\n').find((l) => l.startsWith('S3CLIENT '));
  if (!line) throw new Error(`s3-client ${op} printed no result:\n${out}`);
  return JSON.parse(line.slice('S3CLIENT '.length)) as { bytes: number; seconds: number };
}

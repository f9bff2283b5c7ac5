/**
 * Streams a generated source (default 1024 MiB) through FilesystemStore.put into a temp dir and
 * checks that memory stays flat: prints peak RSS (VmHWM where /proc has it, else RSS sampled every
 * 20 ms), what the process held when the sample peaked, and throughput; exits 1 when the peak is
 * 120 MB or more.
 *
 *   npx tsx scripts/rss-put.ts [sizeMiB]
 *
 * The put runs in a child process that loads TypeScript through tsx's CommonJS hook only: `tsx`
 * itself adds an ESM loader thread worth ~40 MB of RSS, which would measure the tool, not the store.
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { memoryOf } from '../bench/proc';
import { FilesystemStore } from '../src/stores/filesystem';

const MiB = 1024 * 1024;
const MB = 1000 * 1000;
const RSS_LIMIT = 120 * MB;
const CHUNK = 64 * 1024;
const SAMPLE_MS = 20;

/** Pseudo-random bytes made one chunk at a time, so the source never holds more than a chunk. */
function generatedSource(total: number): Readable {
  let remaining = total;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (remaining === 0) {
        this.push(null);
        return;
      }
      const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, remaining)));
      remaining -= chunk.length;
      this.push(chunk);
    },
  });
}

async function main(): Promise<number> {
  const sizeMiB = Number(process.argv[2] ?? 1024);
  if (!Number.isInteger(sizeMiB) || sizeMiB <= 0) throw new Error(`size must be a positive number of MiB, got ${process.argv[2]}`);
  const size = sizeMiB * MiB;
  const dataDir = await mkdtemp(join(tmpdir(), 'glint-rss-put-'));
  const store = new FilesystemStore({ id: 'rss', type: 'file', description: null, dataDir, chunkSize: 64 * 1024 });

  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  let atPeak = process.memoryUsage();
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    if (usage.rss > peak) {
      peak = usage.rss;
      atPeak = usage;
    }
  }, SAMPLE_MS);
  try {
    const started = process.hrtime.bigint();
    const result = await store.put('object', generatedSource(size), { expectedSize: size });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    peak = Math.max(peak, process.memoryUsage.rss(), highWaterMark() ?? 0);
    if (result.size !== size) throw new Error(`stored ${result.size} bytes, expected ${size}`);

    const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
    console.log(`put ${sizeMiB} MiB in ${seconds.toFixed(2)} s: ${(sizeMiB / seconds).toFixed(1)} MiB/s (md5 ${result.md5})`);
    console.log(`RSS baseline ${mb(baseline)}, peak ${mb(peak)} (limit ${RSS_LIMIT / MB} MB)`);
    console.log(
      `at the sampled peak: rss ${mb(atPeak.rss)}, V8 heap ${mb(atPeak.heapTotal)} (${mb(atPeak.heapUsed)} used), ` +
        `external ${mb(atPeak.external)}, array buffers ${mb(atPeak.arrayBuffers)}`,
    );
    if (peak >= RSS_LIMIT) {
      console.error('peak RSS over the limit');
      return 1;
    }
    return 0;
  } finally {
    clearInterval(sampler);
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** VmHWM (the kernel's exact peak RSS of this process) in bytes; undefined without /proc. */
function highWaterMark(): number | undefined {
  try {
    return memoryOf(process.pid).hwm;
  } catch {
    return undefined;
  }
}

if (process.env.GLINT_RSS_PUT_CHILD === '1') {
  // exits explicitly: an idle hash worker must not keep the measurement running
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  const child = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, GLINT_RSS_PUT_CHILD: '1' },
  });
  process.exitCode = child.status ?? 1;
}

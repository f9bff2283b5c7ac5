/**
 * One of two processes racing on one image store (see the image-store contract): waits for the
 * agreed start time, then gives name `race:<round>` to ids[round] for every round, and finally
 * tries to create an image named `contested:1`. Prints a JSON line with what it did.
 */
import { ImageStore, ImageStoreError } from '../../src/index';
import { createLogger } from '../../src/lib/logger';

async function main(): Promise<void> {
  const [configFile, startAt, ...ids] = process.argv.slice(2);
  const store = await ImageStore.open({ configFile, logger: createLogger({ silent: true }) });
  try {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
    await Promise.all(ids.map((id, round) => store.addName(id, `race:${round}`)));
    let created: string | null = null;
    let refused: string | null = null;
    try {
      created = await store.create({ names: ['contested:1'] });
    } catch (err) {
      if (!(err instanceof ImageStoreError)) throw err;
      refused = err.code;
    }
    process.stdout.write(JSON.stringify({ created, refused }) + '\n');
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(String((err as Error)?.stack ?? err) + '\n');
  process.exit(1);
});

#!/usr/bin/env node
/**
 * glint-manage: operator commands on the same config file the server reads.
 *
 *   glint-manage [--config-file PATH] image-store import DIR   an iSulad image store (e.g. /var/lib/isulad/storage/overlay-images)
 *   glint-manage [--config-file PATH] image-store export DIR   writes that layout back
 *
 * Exit status: 0 done, 1 failed, 2 bad usage or configuration.
 */
import { ConfigError, configPathFromArgs } from './config/load';
import { ImageStore, ImageStoreError } from './library/image-store';

const USAGE = 'usage: glint-manage [--config-file PATH] image-store import|export DIR';

async function main(argv: string[]): Promise<number> {
  let configFile: string | null;
  try {
    configFile = configPathFromArgs(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) return usage(err.message);
    throw err;
  }
  const words = withoutConfigOption(argv);
  const [group, action, dir, ...rest] = words;
  if (group !== 'image-store' || (action !== 'import' && action !== 'export') || !dir || rest.length > 0) return usage();

  let store: ImageStore;
  try {
    store = await ImageStore.open({ configFile: configFile ?? undefined });
  } catch (err) {
    if (err instanceof ImageStoreError && err.code === 'INVALID_ARGUMENT') {
      process.stderr.write(`glint-manage: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    if (action === 'import') {
      const result = await store.importLayout(dir);
      process.stdout.write(JSON.stringify(result) + '\n');
    } else {
      await store.exportLayout(dir);
      process.stdout.write(JSON.stringify({ exported: (await store.images()).length, dir }) + '\n');
    }
    return 0;
  } finally {
    await store.close();
  }
}

function withoutConfigOption(argv: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config-file') i++;
    else if (!argv[i].startsWith('--config-file=')) words.push(argv[i]);
  }
  return words;
}

function usage(problem?: string): number {
  process.stderr.write(`${problem ? `glint-manage: ${problem}\n` : ''}${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof ImageStoreError ? `${err.code}: ${err.message}` : String((err as Error)?.stack ?? err);
    process.stderr.write(`glint-manage: ${message}\n`);
    process.exit(1);
  },
);

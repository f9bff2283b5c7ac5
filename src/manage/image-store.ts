import { ImageStore, ImageStoreError } from '../library/image-store';
import { EXIT, parseOptions, UsageError, type Command, type CommandContext } from './cli';

async function withStore(context: CommandContext, work: (store: ImageStore, dir: string) => Promise<void>): Promise<number> {
  const { positionals } = parseOptions(context.args, {}, { min: 1, max: 1 });
  let store: ImageStore;
  try {
    store = await ImageStore.open({ configFile: context.configFile ?? undefined });
  } catch (err) {
    if (err instanceof ImageStoreError && err.code === 'INVALID_ARGUMENT') throw new UsageError(`configuration error: ${err.message}`, false);
    throw err;
  }
  try {
    await work(store, positionals[0]);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** iSulad image-store layouts (the image-store library), as before the other commands came. */
export const imageStoreCommands: Command[] = [
  {
    name: 'image-store import',
    summary: 'import an iSulad image store (e.g. /var/lib/isulad/storage/overlay-images)',
    usage: 'image-store import DIR',
    run: (context) =>
      withStore(context, async (store, dir) => {
        context.out.write(`${JSON.stringify(await store.importLayout(dir))}\n`);
      }),
  },
  {
    name: 'image-store export',
    summary: 'write the container images out in the iSulad layout',
    usage: 'image-store export DIR',
    run: (context) =>
      withStore(context, async (store, dir) => {
        await store.exportLayout(dir);
        context.out.write(`${JSON.stringify({ exported: (await store.images()).length, dir })}\n`);
      }),
  },
];

import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImportConfig } from '../../../config/types';
import type { DiskFormatPolicy } from '../../disk-formats';
import type { Image } from '../../image';
import type { ImageAttributeChanges } from '../../repositories';
import type { ImportTaskInput } from '../import-task';
import { ImageConversion } from './image-conversion';
import { InjectImageMetadata } from './inject-image-metadata';
import type { ImportPlugin, ImportPluginContext } from './plugin';

export type { ImportPlugin } from './plugin';

/** What the plugins made of an import before its data is stored. */
export interface PreparedImport {
  attributes: ImageAttributeChanges;
  setProperties: Record<string, string>;
  /** A local file holding the data to store instead of the source; null: store the source. */
  dataFile: string | null;
  /** Deletes the job's temporary folder (the copy of the source, converted data). */
  cleanup(): Promise<void>;
}

const FOLDER_PREFIX = 'glint-import-';
/**
 * A temporary folder older than this belongs to no live job (an import is aborted after a day)
 * but to a process that died mid-import; the next import on the host removes it.
 */
const STALE_FOLDER_MS = 2 * 24 * 3600_000;

/** The configured plugins, run in order by the import job (see ImportPlugin). */
export class ImportPlugins {
  constructor(
    private readonly plugins: readonly ImportPlugin[],
    private readonly tempRoot: string = tmpdir(),
  ) {}

  get names(): string[] {
    return this.plugins.map((p) => p.name);
  }

  /** Removes the temporary folders of dead processes (older than STALE_FOLDER_MS); never throws. */
  async sweepStale(now = Date.now()): Promise<number> {
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(this.tempRoot);
    } catch {
      return 0;
    }
    for (const name of names.filter((n) => n.startsWith(FOLDER_PREFIX))) {
      const path = join(this.tempRoot, name);
      try {
        if (now - (await stat(path)).mtimeMs < STALE_FOLDER_MS) continue;
        await rm(path, { recursive: true, force: true });
        removed++;
      } catch {
        // raced with another sweep, or the folder went with its job
      }
    }
    return removed;
  }

  /**
   * Runs every plugin on `image`, each seeing the changes of those before it. Data is copied from
   * `openSource` into a temporary folder only when a plugin asks for it. Whatever a plugin
   * throws is rethrown after the folder is deleted.
   */
  async prepare(image: Image, input: ImportTaskInput, openSource: () => Promise<Readable>, signal: AbortSignal): Promise<PreparedImport> {
    void this.sweepStale();
    const folder = await mkdtemp(join(this.tempRoot, FOLDER_PREFIX));
    const cleanup = () => rm(folder, { recursive: true, force: true });
    const attributes: ImageAttributeChanges = {};
    const setProperties: Record<string, string> = {};
    let dataFile: string | null = null;
    let copied: string | null = null;
    try {
      for (const plugin of this.plugins) {
        const context: ImportPluginContext = {
          image: { ...image, ...attributes, properties: { ...image.properties, ...setProperties } },
          input,
          signal,
          tempPath: (name) => join(folder, `${plugin.name}-${name}`),
          dataFile: async () => {
            if (dataFile !== null) return dataFile;
            if (copied === null) {
              const path = join(folder, 'source');
              await pipeline(await openSource(), createWriteStream(path), { signal });
              copied = path;
            }
            return copied;
          },
        };
        const result = await plugin.run(context);
        Object.assign(attributes, result.attributes ?? {});
        Object.assign(setProperties, result.setProperties ?? {});
        if (result.replacementFile) dataFile = result.replacementFile;
      }
      return { attributes, setProperties, dataFile, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
}

/** The plugins `[image_import_opts] image_import_plugins` names, in its order (`no_op` does nothing). */
export function buildImportPlugins(config: ImportConfig, diskFormats?: DiskFormatPolicy, tempRoot?: string): ImportPlugins {
  const plugins: ImportPlugin[] = [];
  for (const name of config.plugins) {
    if (name === 'image_conversion') plugins.push(new ImageConversion({ outputFormat: config.conversionOutputFormat, diskFormats }));
    else if (name === 'inject_image_metadata') {
      plugins.push(new InjectImageMetadata({ properties: config.injectProperties, ignoreUserRoles: config.injectIgnoreUserRoles }));
    }
  }
  return new ImportPlugins(plugins, tempRoot);
}

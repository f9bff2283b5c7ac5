import type { Image } from '../../image';
import type { ImageAttributeChanges } from '../../repositories';
import type { ImportTaskInput } from '../import-task';

/** What an import plugin sees: the image as it stands, the task, and the data. */
export interface ImportPluginContext {
  image: Image;
  input: ImportTaskInput;
  signal: AbortSignal;
  /**
   * The data to be stored as a local file: the staged or downloaded source, copied into the job's
   * temporary folder on first use, or what an earlier plugin replaced it with.
   */
  dataFile(): Promise<string>;
  /** A fresh path in the job's temporary folder (deleted with it). */
  tempPath(name: string): string;
}

/** What a plugin changes before the data is stored. */
export interface ImportPluginResult {
  attributes?: ImageAttributeChanges;
  setProperties?: Record<string, string>;
  /** A file in the temporary folder holding the data to store instead. */
  replacementFile?: string;
}

/**
 * One of Glance's import plugins (`[image_import_opts] image_import_plugins`). Plugins run in the
 * configured order inside the import job, after the data is staged (or downloaded) and before it
 * is stored; copy-image runs none. A plugin that throws fails the whole import, which then
 * reverts as any failed import does.
 */
export interface ImportPlugin {
  readonly name: string;
  run(context: ImportPluginContext): Promise<ImportPluginResult>;
}

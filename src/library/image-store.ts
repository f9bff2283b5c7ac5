import { Readable } from 'node:stream';
import { KnexCatalog } from '../catalog/knex-catalog';
import { ConfigError, loadConfig } from '../config/load';
import type { GlintConfig } from '../config/types';
import { LayoutTransfer, type ImportResult } from '../domain/container-images/layout';
import type { CreateContainerImage, StoredImage } from '../domain/container-images/model';
import { ContainerImageService } from '../domain/container-images/service';
import { GlintError, type ErrorCode } from '../domain/errors';
import { IngestPipeline } from '../domain/ingest';
import { createLogger, type Logger } from '../lib/logger';
import { StoreRegistry } from '../stores/registry';

export type { ImportResult } from '../domain/container-images/layout';
export type { StoredImage } from '../domain/container-images/model';
export type CreateImageOptions = CreateContainerImage;

export type ImageStoreErrorCode = 'NOT_FOUND' | 'ID_IN_USE' | 'NAME_IN_USE' | 'AMBIGUOUS_REFERENCE' | 'INVALID_ARGUMENT' | 'READ_ONLY';

/** Every failure of the library that is about the caller's request carries one of these codes. */
export class ImageStoreError extends Error {
  constructor(
    readonly code: ImageStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImageStoreError';
  }
}

export interface OpenOptions {
  /** A glance-api.conf-style file, as the server reads it; without one, the server's defaults (and GLINT_* variables). */
  configFile?: string;
  /** Every mutator rejects with READ_ONLY; the catalog is not migrated (it must be current). */
  readonly?: boolean;
  /** Where warnings go (default: JSON lines on stderr). */
  logger?: Logger;
}

/**
 * The iSulad-compatible image store, on glint's catalog and blob stores. Several processes may
 * open the same store (same database and stores) at once: every change is one transaction.
 *
 * Failures the caller can act on reject with ImageStoreError (see ImageStoreErrorCode). A database
 * or blob store that fails rejects with its own error.
 */
export class ImageStore {
  private constructor(
    private readonly service: ContainerImageService,
    private readonly layout: LayoutTransfer,
    private readonly closeAll: () => Promise<void>,
  ) {}

  static async open(options: OpenOptions = {}): Promise<ImageStore> {
    const logger = options.logger ?? createLogger();
    let config: GlintConfig;
    try {
      config = loadConfig({ file: options.configFile ?? null, warn: (message) => logger.warn(message) });
    } catch (err) {
      if (err instanceof ConfigError) throw new ImageStoreError('INVALID_ARGUMENT', `Invalid configuration: ${err.message}`, { cause: err });
      throw err;
    }
    const catalog = await KnexCatalog.open(config.database);
    let stores: StoreRegistry | undefined;
    try {
      if (!options.readonly) {
        await catalog.migrate();
      } else if ((await catalog.pendingMigrations()).length > 0) {
        throw new ImageStoreError('READ_ONLY', 'The catalog is not up to date and a read-only store cannot migrate it; open it once read-write.');
      }
      stores = new StoreRegistry(config.stores);
      const ingest = new IngestPipeline({ images: catalog.images, limits: config.limits, logger });
      const service = new ContainerImageService({ images: catalog.containerImages, stores, ingest, logger, readonly: options.readonly ?? false });
      const registry = stores;
      return new ImageStore(service, new LayoutTransfer(service, logger), async () => {
        await registry.close();
        await catalog.close();
      });
    } catch (err) {
      await stores?.close().catch(() => {});
      await catalog.close();
      throw err;
    }
  }

  /** Closes the database pool and the stores. */
  close(): Promise<void> {
    return this.closeAll();
  }

  /** Creates an image and returns its id (`id` or a random 64-hex one). */
  create(options: CreateImageOptions = {}): Promise<string> {
    return call(() => this.service.create(options));
  }

  exists(ref: string): Promise<boolean> {
    return call(() => this.service.exists(ref));
  }

  /** The id `ref` resolves to: an id, a name, a unique id prefix or `name@digest`, in that order. */
  lookup(ref: string): Promise<string> {
    return call(() => this.service.lookup(ref));
  }

  get(ref: string): Promise<StoredImage> {
    return call(() => this.service.get(ref));
  }

  images(): Promise<StoredImage[]> {
    return call(() => this.service.list());
  }

  /** Every image indexed under `digest` (its record digest or its manifest's digest). */
  byDigest(digest: string): Promise<StoredImage[]> {
    return call(() => this.service.byDigest(digest));
  }

  /** Gives `name` to the image, taking it away from any other image. */
  addName(ref: string, name: string): Promise<void> {
    return call(() => this.service.addName(ref, name));
  }

  /** Replaces the image's names (at least one), taking each away from any other image. */
  setNames(ref: string, names: string[]): Promise<void> {
    return call(() => this.service.setNames(ref, names));
  }

  /** Removes the image and its big data; an unknown reference succeeds. */
  delete(ref: string): Promise<void> {
    return call(() => this.service.delete(ref));
  }

  /** Removes every image. */
  wipe(): Promise<void> {
    return call(() => this.service.wipe());
  }

  setLoadedTime(ref: string, date: Date): Promise<void> {
    return call(() => this.service.setLoadedTime(ref, date));
  }

  setMetadata(ref: string, text: string): Promise<void> {
    return call(() => this.service.setMetadata(ref, text));
  }

  /** The metadata string ('' when none was set). */
  metadata(ref: string): Promise<string> {
    return call(() => this.service.metadata(ref));
  }

  /** Sets the image size (layers + big data) the caller computed. */
  setSize(ref: string, size: number): Promise<void> {
    return call(() => this.service.setSize(ref, size));
  }

  /** Stores `data` under `key` (a string is stored as its UTF-8 bytes); size and digest are taken over the stored bytes. */
  setBigData(ref: string, key: string, data: Buffer | string | Readable): Promise<void> {
    return call(() => this.service.setBigData(ref, key, toReadable(data)));
  }

  /** The bytes stored under `key`, or null when the image has no such key. */
  bigData(ref: string, key: string): Promise<Buffer | null> {
    return call(() => this.service.bigData(ref, key));
  }

  bigDataSize(ref: string, key: string): Promise<number> {
    return call(async () => (await this.service.bigDataEntry(ref, key)).size);
  }

  /** `sha256:<hex>` of the bytes stored under `key`. */
  bigDataDigest(ref: string, key: string): Promise<string> {
    return call(async () => (await this.service.bigDataEntry(ref, key)).digest);
  }

  /** Keys in the order they were first set. */
  bigDataNames(ref: string): Promise<string[]> {
    return call(() => this.service.bigDataNames(ref));
  }

  /** Reads an iSulad image-store directory (`<dir>/<id>/images.json` + big data); the source is not changed. */
  importLayout(dir: string): Promise<ImportResult> {
    return call(() => this.layout.importLayout(dir));
  }

  /** Writes every image as an iSulad image-store directory under `dir`. */
  exportLayout(dir: string): Promise<void> {
    return call(() => this.layout.exportLayout(dir));
  }
}

function toReadable(data: Buffer | string | Readable): Readable {
  if (data instanceof Readable) return data;
  if (typeof data === 'string') return Readable.from([Buffer.from(data, 'utf8')]);
  if (Buffer.isBuffer(data) || (data as unknown) instanceof Uint8Array) return Readable.from([Buffer.from(data)]);
  throw new ImageStoreError('INVALID_ARGUMENT', 'Big data must be a Buffer, a string or a Readable.');
}

const CODES: Partial<Record<ErrorCode, ImageStoreErrorCode>> = {
  CONTAINER_IMAGE_NOT_FOUND: 'NOT_FOUND',
  IMAGE_ID_IN_USE: 'ID_IN_USE',
  CONTAINER_IMAGE_NAME_IN_USE: 'NAME_IN_USE',
  CONTAINER_IMAGE_REFERENCE_AMBIGUOUS: 'AMBIGUOUS_REFERENCE',
  CONTAINER_STORE_READ_ONLY: 'READ_ONLY',
};

/** The domain's errors in the library's codes; a size cap or bad value is INVALID_ARGUMENT. */
async function call<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof GlintError)) throw err;
    const code = CODES[err.code] ?? (err.kind === 'invalid' || err.kind === 'too_large' ? 'INVALID_ARGUMENT' : undefined);
    if (code === undefined) throw err;
    throw new ImageStoreError(code, err.message, { cause: err });
  }
}

import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from '../../lib/logger';
import { isStoreError, type BlobStore } from '../../stores/blob-store';
import type { StoreRegistry } from '../../stores/registry';
import { fail, GlintError } from '../errors';
import type { IngestPipeline } from '../ingest';
import type { StoredObject } from '../stored-object';
import type { BigDataEntry, ContainerImageChanges, ContainerImageRecord, CreateContainerImage, EpochNanos, StoredImage } from './model';
import type { ContainerImageRepository } from './repository';
import * as rules from './rules';
import { dateFromNanos, nanosFromDate, nowNanos } from './time';

export interface ContainerImageServiceDeps {
  images: ContainerImageRepository;
  stores: StoreRegistry;
  ingest: IngestPipeline;
  logger: Logger;
  /** Every mutator rejects with CONTAINER_STORE_READ_ONLY and changes nothing. */
  readonly: boolean;
}

/** Random ids tried before giving up (iSulad's bound). */
const RANDOM_ID_ATTEMPTS = 5;
/** Reads retried when the object they found was replaced meanwhile. */
const READ_ATTEMPTS = 3;

/** What `create` takes beyond the library's command: an import keeps the source's times and size. */
export interface CreateOptions {
  loaded?: EpochNanos;
  createdNanos?: EpochNanos;
  size?: number;
}

/**
 * The iSulad image store's operations on the catalog and the blob stores. References are resolved
 * in iSulad's order (id, name, unique id prefix, `name@digest`); big data goes through the ingest
 * pipeline into the default store with its sha256 computed on the way.
 */
export class ContainerImageService {
  constructor(private readonly deps: ContainerImageServiceDeps) {}

  get readonly(): boolean {
    return this.deps.readonly;
  }

  // ---- references --------------------------------------------------------------------------

  /** The id `ref` resolves to, or null. An ambiguous id prefix rejects. */
  async resolve(ref: string): Promise<string | null> {
    if (typeof ref !== 'string' || ref === '') fail('CONTAINER_IMAGE_INVALID', 'An image reference must not be empty.');
    const { images } = this.deps;
    if (rules.ID_PATTERN.test(ref) && (await images.exists(ref))) return ref;
    const owner = await images.ownerOf(ref);
    if (owner !== null) return owner;
    if (rules.isIdPrefix(ref)) {
      const ids = await images.idsWithPrefix(ref, 2);
      if (ids.length > 1) fail('CONTAINER_IMAGE_REFERENCE_AMBIGUOUS', `Multiple IDs found with provided prefix: ${ref}`);
      if (ids.length === 1) return ids[0];
    }
    const digestRef = rules.parseDigestReference(ref);
    if (digestRef) {
      for (const id of await images.idsByDigest(digestRef.digest)) {
        const record = await images.get(id);
        if (record && rules.digestReferenceMatches(digestRef, record.names)) return id;
      }
    }
    return null;
  }

  async lookup(ref: string): Promise<string> {
    return (await this.resolve(ref)) ?? notFound(ref);
  }

  async exists(ref: string): Promise<boolean> {
    if (ref === '') return false;
    return (await this.resolve(ref)) !== null;
  }

  // ---- reads ---------------------------------------------------------------------------------

  async get(ref: string): Promise<StoredImage> {
    return present(await this.record(ref));
  }

  async record(ref: string): Promise<ContainerImageRecord> {
    const id = await this.lookup(ref);
    return (await this.deps.images.get(id)) ?? notFound(ref);
  }

  async list(): Promise<StoredImage[]> {
    return (await this.deps.images.list()).map(present);
  }

  async listRecords(): Promise<ContainerImageRecord[]> {
    return this.deps.images.list();
  }

  async byDigest(digest: string): Promise<StoredImage[]> {
    rules.assertValidDigest(digest);
    const records = await Promise.all((await this.deps.images.idsByDigest(digest)).map((id) => this.deps.images.get(id)));
    return records.filter((record): record is ContainerImageRecord => record !== null).map(present);
  }

  async metadata(ref: string): Promise<string> {
    return (await this.record(ref)).metadata ?? '';
  }

  async bigDataNames(ref: string): Promise<string[]> {
    return (await this.record(ref)).bigData.map((entry) => entry.key);
  }

  async bigDataEntry(ref: string, key: string): Promise<BigDataEntry> {
    rules.assertValidBigDataKey(key);
    const entry = (await this.record(ref)).bigData.find((item) => item.key === key);
    return entry ?? fail('CONTAINER_IMAGE_NOT_FOUND', `Image ${ref} has no big data ${JSON.stringify(key)}.`);
  }

  /** The bytes of `key`, or null when the image has no such key. */
  async bigData(ref: string, key: string): Promise<Buffer | null> {
    rules.assertValidBigDataKey(key);
    const id = await this.lookup(ref);
    for (let attempt = 1; ; attempt++) {
      const record = (await this.deps.images.get(id)) ?? notFound(ref);
      const entry = record.bigData.find((item) => item.key === key);
      if (!entry) return null;
      try {
        return await readAll(this.store(entry.storeId), entry.objectKey);
      } catch (err) {
        // A writer replaced the key and deleted the object we found: read the new one.
        if (!isStoreError(err, 'not_found') || attempt >= READ_ATTEMPTS) throw err;
      }
    }
  }

  /** Opens the stored bytes of `entry` for streaming (export). */
  async openBigData(entry: BigDataEntry): Promise<Readable> {
    return (await this.store(entry.storeId).get(entry.objectKey)).body;
  }

  // ---- mutators ------------------------------------------------------------------------------

  async create(command: CreateContainerImage, options: CreateOptions = {}): Promise<string> {
    this.assertWritable();
    const names = rules.uniqueSortedNames(command.names ?? []);
    if (command.digest !== undefined && command.digest !== '') rules.assertValidDigest(command.digest);
    if (command.created !== undefined && Number.isNaN(command.created.getTime())) fail('CONTAINER_IMAGE_INVALID', 'Invalid created time.');
    const loaded = options.loaded ?? nowNanos();
    const record = {
      names,
      digest: command.digest || null,
      layer: command.layer ?? null,
      metadata: command.metadata ?? null,
      created: options.createdNanos ?? (command.created ? nanosFromDate(command.created) : loaded),
      loaded,
      size: options.size ?? 0,
    };
    if (command.id !== undefined) {
      rules.assertValidId(command.id);
      await this.deps.images.create({ id: command.id, ...record });
      return command.id;
    }
    for (let attempt = 1; ; attempt++) {
      const id = randomBytes(32).toString('hex');
      try {
        await this.deps.images.create({ id, ...record });
        return id;
      } catch (err) {
        if (!(err instanceof GlintError && err.code === 'IMAGE_ID_IN_USE') || attempt >= RANDOM_ID_ATTEMPTS) throw err;
      }
    }
  }

  async addName(ref: string, name: string): Promise<void> {
    this.assertWritable();
    rules.assertValidName(name);
    const id = await this.lookup(ref);
    if (!(await this.deps.images.addName(id, name))) notFound(ref);
  }

  async setNames(ref: string, names: readonly string[]): Promise<void> {
    this.assertWritable();
    if (!Array.isArray(names) || names.length === 0) fail('CONTAINER_IMAGE_INVALID', 'Cannot leave the image name empty.');
    const unique = rules.uniqueSortedNames(names);
    const id = await this.lookup(ref);
    if (!(await this.deps.images.setNames(id, unique))) notFound(ref);
  }

  async setLoadedTime(ref: string, loaded: Date): Promise<void> {
    if (!(loaded instanceof Date) || Number.isNaN(loaded.getTime())) fail('CONTAINER_IMAGE_INVALID', 'Invalid loaded time.');
    await this.update(ref, { loaded: nanosFromDate(loaded) });
  }

  async setMetadata(ref: string, metadata: string): Promise<void> {
    if (typeof metadata !== 'string') fail('CONTAINER_IMAGE_INVALID', 'Metadata must be a string.');
    await this.update(ref, { metadata });
  }

  async setSize(ref: string, size: number): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) fail('CONTAINER_IMAGE_INVALID', 'An image size is a non-negative integer.');
    await this.update(ref, { size });
  }

  /** Changes scalar fields of an image given by reference. */
  async update(ref: string, changes: ContainerImageChanges): Promise<void> {
    this.assertWritable();
    const id = await this.lookup(ref);
    if (!(await this.deps.images.update(id, changes))) notFound(ref);
  }

  /**
   * Streams `source` into a new object of the default store (sha256 computed on the way) and points
   * `key` at it; the object the key pointed at before is then deleted. Identical bytes change
   * nothing. Any failure leaves the previous value in place and no new object behind.
   */
  async setBigData(ref: string, key: string, source: Readable): Promise<void> {
    try {
      this.assertWritable();
      rules.assertValidBigDataKey(key);
    } catch (err) {
      source.destroy();
      throw err;
    }
    let id: string;
    try {
      id = await this.lookup(ref);
    } catch (err) {
      source.destroy();
      throw err;
    }
    const store = this.deps.stores.default;
    const { result } = await this.deps.ingest.writeObject({
      store,
      key: `container-images/${id}/${randomUUID()}`,
      source,
      sha256: true,
      commit: async (data) => {
        const entry: BigDataEntry = { key, storeId: store.id, objectKey: data.key, size: data.size, digest: rules.sha256Digest(data.sha256 as string) };
        const outcome = await this.deps.images.commitBigData(id, entry);
        if (outcome.status === 'gone') notFound(ref);
        return { keep: outcome.status === 'written', result: outcome };
      },
    });
    if (result.status === 'written' && result.replaced) await this.removeObjects([result.replaced]);
  }

  /** Removes the image; an unknown reference is already deleted and succeeds. */
  async delete(ref: string): Promise<void> {
    this.assertWritable();
    const id = await this.resolve(ref);
    if (id === null) return;
    const objects = await this.deps.images.delete(id);
    if (objects) await this.removeObjects(objects);
  }

  /** Deletes every image; succeeds on an empty store. */
  async wipe(): Promise<void> {
    this.assertWritable();
    for (const record of await this.deps.images.list()) {
      const objects = await this.deps.images.delete(record.id);
      if (objects) await this.removeObjects(objects);
    }
  }

  assertWritable(): void {
    if (this.deps.readonly) fail('CONTAINER_STORE_READ_ONLY', 'The image store is read-only.');
  }

  private store(id: string): BlobStore {
    return this.deps.stores.get(id) ?? fail('STORE_UNAVAILABLE', `Big data lives in store ${JSON.stringify(id)}, which is not configured.`);
  }

  private async removeObjects(objects: StoredObject[]): Promise<void> {
    for (const { storeId, key } of objects) {
      const store = this.deps.stores.get(storeId);
      if (store) await this.deps.ingest.deleteQuietly(store, key);
      else this.deps.logger.error('big data left in an unconfigured store', { storeId, key });
    }
  }
}

/** The library's view of a record. */
export function present(record: ContainerImageRecord): StoredImage {
  const manifest = record.bigData.find((entry) => entry.key === rules.MANIFEST_KEY);
  return {
    id: record.id,
    names: [...record.names],
    digest: record.digest,
    layer: record.layer,
    metadata: record.metadata,
    created: dateFromNanos(record.created),
    loaded: dateFromNanos(record.loaded),
    size: record.size,
    bigDataNames: record.bigData.map((entry) => entry.key),
    repoTags: rules.repoTags(record.names),
    repoDigests: rules.repoDigests(record.names, record.digest || manifest?.digest || null),
  };
}

function notFound(ref: string): never {
  fail('CONTAINER_IMAGE_NOT_FOUND', `Image not known: ${ref}`);
}

async function readAll(store: BlobStore, key: string): Promise<Buffer> {
  const result = await store.get(key);
  if (result.bytes) {
    result.body.destroy();
    return Buffer.from(result.bytes);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of result.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

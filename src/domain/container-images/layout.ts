import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../../lib/logger';
import { fail, GlintError } from '../errors';
import type { ContainerImageRecord } from './model';
import * as rules from './rules';
import type { ContainerImageService } from './service';
import { formatTime, nowNanos, parseTime } from './time';

/**
 * iSulad's on-disk image store (`<root>/<id>/images.json` plus one file per big-data key) read into
 * the catalog and written back. Import applies iSulad's start-up load rules (§8) and never changes
 * the source; export writes files the way iSulad does (temporary file + rename, 0600 / 0700).
 */

export interface ImportResult {
  /** Ids imported, in the order they were read. */
  imported: string[];
  /** Image directories not imported: unreadable record, no parsable config, id already in the store. */
  skipped: string[];
}

/** The images.json fields this module reads (lcr's storage/image.json schema). */
interface ImageJson {
  id?: unknown;
  digest?: unknown;
  names?: unknown;
  layer?: unknown;
  metadata?: unknown;
  'big-data-names'?: unknown;
  'big-data-sizes'?: unknown;
  created?: unknown;
  loaded?: unknown;
  size?: unknown;
}

export class LayoutTransfer {
  constructor(
    private readonly service: ContainerImageService,
    private readonly logger: Logger,
    /** The registry host whose prefix iSulad strips from names (`docker.io`). */
    private readonly defaultHost = 'docker.io',
  ) {}

  async importLayout(root: string): Promise<ImportResult> {
    this.service.assertWritable();
    const entries = await readRoot(root);
    const result: ImportResult = { imported: [], skipped: [] };
    // Sorted, not readdir order, so that "the later image wins a name" means the same everywhere.
    for (const entry of entries.filter((item) => item.isDirectory() && rules.ID_PATTERN.test(item.name)).sort((a, b) => rules.compareBytes(a.name, b.name))) {
      const id = entry.name;
      const reason = await this.importImage(path.join(root, id), id);
      if (reason === null) {
        result.imported.push(id);
      } else {
        this.logger.warn('container image not imported', { id, reason });
        result.skipped.push(id);
      }
    }
    return result;
  }

  /** Imports one image directory; returns why it was skipped, or null once imported. */
  private async importImage(dir: string, id: string): Promise<string | null> {
    let record: ImageJson;
    try {
      record = JSON.parse(await fs.readFile(path.join(dir, 'images.json'), 'utf8')) as ImageJson;
    } catch (err) {
      return `images.json cannot be read: ${(err as Error).message}`;
    }
    if (typeof record !== 'object' || record === null || record.id !== id) return 'images.json does not describe this directory';
    const config = await readIfPresent(path.join(dir, rules.bigDataFileName(rules.configKey(id))));
    if (config === null || !isJsonObject(config)) return 'no parsable config';
    if (await this.service.exists(id)) return 'the store already holds this id';

    const keys = uniqueStrings(record['big-data-names']);
    const sizes = (typeof record['big-data-sizes'] === 'object' && record['big-data-sizes']) || {};
    const names = [...new Set(stringArray(record.names).map((name) => rules.stripDefaultPrefixes(name, this.defaultHost)))];
    const loaded = (typeof record.loaded === 'string' && parseTime(record.loaded)) || nowNanos();
    await this.service.create(
      { id, layer: stringOrUndefined(record.layer), metadata: stringOrUndefined(record.metadata) },
      {
        loaded,
        createdNanos: (typeof record.created === 'string' && parseTime(record.created)) || loaded,
        size: typeof record.size === 'number' && Number.isSafeInteger(record.size) && record.size >= 0 ? record.size : 0,
      },
    );
    try {
      for (const key of keys) {
        try {
          rules.assertValidBigDataKey(key);
        } catch {
          this.logger.warn('big-data key not imported', { id, key });
          continue;
        }
        const file = path.join(dir, rules.bigDataFileName(key));
        const exists = await fs.stat(file).then((stat) => stat.isFile(), () => false);
        // iSulad writes no file for an empty value
        if (!exists && (sizes as Record<string, unknown>)[key] !== 0) {
          this.logger.warn('big-data file missing', { id, key });
          continue;
        }
        await this.service.setBigData(id, key, exists ? createReadStream(file) : Readable.from([]));
      }
      const imported = await this.service.record(id);
      const manifestDigest = imported.bigData.find((item) => item.key === rules.MANIFEST_KEY)?.digest;
      const digest = typeof record.digest === 'string' && record.digest !== '' ? record.digest : manifestDigest;
      if (digest) await this.service.update(id, { digest });
      // the later image wins a name another one claimed (iSulad's load rule)
      for (const name of names) await this.service.addName(id, name);
    } catch (err) {
      await this.service.delete(id).catch(() => {});
      if (err instanceof GlintError && err.kind === 'invalid') return err.message;
      throw err;
    }
    return null;
  }

  async exportLayout(root: string): Promise<void> {
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    for (const record of await this.service.listRecords()) {
      const dir = path.join(root, record.id);
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      for (const entry of record.bigData) {
        // iSulad writes no file for a zero-length value
        if (entry.size === 0) continue;
        await atomicWrite(path.join(dir, rules.bigDataFileName(entry.key)), await this.service.openBigData(entry));
      }
      await atomicWrite(path.join(dir, 'images.json'), Readable.from([Buffer.from(JSON.stringify(imageJson(record)))]));
    }
  }
}

/** The images.json document iSulad writes for `record`. */
export function imageJson(record: ContainerImageRecord): Record<string, unknown> {
  const document: Record<string, unknown> = { id: record.id };
  const manifest = record.bigData.find((entry) => entry.key === rules.MANIFEST_KEY);
  const digest = record.digest ?? manifest?.digest;
  if (digest) document.digest = digest;
  if (record.names.length > 0) document.names = record.names;
  if (record.layer !== null) document.layer = record.layer;
  if (record.metadata !== null) document.metadata = record.metadata;
  if (record.bigData.length > 0) {
    document['big-data-names'] = record.bigData.map((entry) => entry.key);
    document['big-data-sizes'] = Object.fromEntries(record.bigData.map((entry) => [entry.key, entry.size]));
    document['big-data-digests'] = Object.fromEntries(record.bigData.map((entry) => [entry.key, entry.digest]));
  }
  document.created = formatTime(record.created);
  document.loaded = formatTime(record.loaded);
  document.size = record.size;
  return document;
}

/** Content into `.tmp-<name>-<10 hex>` beside the target, fsynced, then renamed over it (0600). */
async function atomicWrite(target: string, source: Readable): Promise<void> {
  const temp = path.join(path.dirname(target), `.tmp-${path.basename(target)}-${randomBytes(5).toString('hex')}`);
  try {
    const out = createWriteStream(temp, { mode: 0o600, flush: true });
    await pipeline(source, out);
    await fs.rename(temp, target);
  } catch (err) {
    source.destroy();
    await fs.rm(temp, { force: true });
    throw err;
  }
}

async function readRoot(root: string) {
  try {
    return await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    fail('CONTAINER_IMAGE_INVALID', `Cannot read the image store directory ${root}: ${(err as Error).message}`);
  }
}

async function readIfPresent(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch {
    return null;
  }
}

function isJsonObject(bytes: Buffer): boolean {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string' && item !== '') : [];
}

function uniqueStrings(value: unknown): string[] {
  return [...new Set(stringArray(value))];
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

import { isStoreError } from '../../stores/blob-store';
import type { StoreRegistry } from '../../stores/registry';
import type { RequestContext } from '../context';
import { fail, GlintError } from '../errors';
import type { Image, ImageStatus } from '../image';
import type { ImageAttributeChanges, ImageChanges } from '../repositories';
import type { StoredObject } from '../stored-object';
import type { LocationPolicy } from './location-policy';
import { resolveLocationUrl } from './location-url';
import { newValidationValues, type ValidationData } from './validation-data';

/** A location as a PATCH body gives it (the surface has checked its shape). */
export interface LocationValue {
  url: string;
  metadata: Record<string, unknown>;
  validationData?: ValidationData;
}

/**
 * One PATCH operation on `/locations`: add at a position (`/locations/N` or `/locations/-`),
 * replace the whole list (`/locations`), remove at a position.
 */
export type LocationOperation =
  | { op: 'add'; position: string; value: LocationValue }
  | { op: 'replace'; value: LocationValue[] }
  | { op: 'remove'; position: string };

interface Entry extends StoredObject {
  /** The location's URL as glint shows it (the comparison key for duplicates). */
  url: string;
  metadata: Record<string, unknown>;
}

export interface LocationEditorOptions {
  stores: StoreRegistry;
  policy: LocationPolicy;
  showMultipleLocations: boolean;
  locationQuota: number;
  hashingAlgorithm: string;
}

/**
 * Glance 25.1's rules for the PATCH forms, applied in order to one read of the image: status
 * (add/replace on queued or active, remove on active only; 409), validation data (409), position
 * (400), the URL must name a non-empty object of a configured store (400 "Invalid location"), no
 * duplicate url + metadata (400), never the last location removed or an empty list set (403), and
 * `image_location_quota` (413). A queued image that gets a location goes active, its size read
 * from the store.
 */
export class LocationEditor {
  constructor(private readonly options: LocationEditorOptions) {}

  async apply(ctx: RequestContext, image: Image, operations: readonly LocationOperation[]): Promise<{ changes: ImageChanges; removed: StoredObject[] }> {
    const { stores } = this.options;
    let list: Entry[] = image.locations.map((l) => ({ storeId: l.storeId, key: l.key, metadata: l.metadata, url: stores.locationUrl(l.storeId, l.key) ?? '' }));
    const attributes: ImageAttributeChanges = {};
    const removed: StoredObject[] = [];
    const current = (): Image => ({ ...image, ...attributes, locations: image.locations });
    const status = (): ImageStatus => current().status;
    const activate = (hashes: ReturnType<typeof newValidationValues>, size: number | null) => {
      if (current().size === null && size !== null) attributes.size = size;
      if (status() !== 'queued') return;
      if (hashes.checksum !== undefined) attributes.checksum = hashes.checksum;
      if (hashes.osHashAlgo !== undefined) attributes.osHashAlgo = hashes.osHashAlgo;
      if (hashes.osHashValue !== undefined) attributes.osHashValue = hashes.osHashValue;
      attributes.status = 'active';
    };

    for (const operation of operations) {
      if (operation.op === 'remove') {
        this.options.policy.assertMayDelete(ctx, image);
        this.allowed('remove');
        if (status() !== 'active') fail('IMAGE_INVALID_STATUS', `It's not allowed to remove locations if image status is ${status()}.`);
        if (list.length === 1) fail('STORE_LAST_LOCATION', ACCESS_DENIED, 'Cannot remove last location in the image.');
        const position = operation.position === '-' ? list.length - 1 : /^\d+$/.test(operation.position) ? Number(operation.position) : -1;
        if (position < 0 || position >= list.length) fail('BAD_REQUEST', 'Invalid position for removing a location.');
        const [gone] = list.splice(position, 1);
        removed.push({ storeId: gone.storeId, key: gone.key });
        continue;
      }
      this.options.policy.assertMaySet(ctx, image);
      if (operation.op === 'replace') {
        if (operation.value.length === 0) fail('LOCATIONS_NOT_ALLOWED', ACCESS_DENIED, 'Cannot set locations to empty list.');
        this.allowed('update');
        if (status() !== 'active' && status() !== 'queued') fail('IMAGE_INVALID_STATUS', `It's not allowed to replace locations if image status is ${status()}.`);
        const hashes = newValidationValues(current(), operation.value, this.options.hashingAlgorithm);
        this.checkQuota(operation.value.length);
        const sameUrls = sortedUrls(list).join('\n') === sortedUrls(operation.value.map((v) => ({ url: this.canonical(v.url) }))).join('\n');
        if (!sameUrls && list.length > 0) fail('BAD_REQUEST', `Original locations is not empty: ${pythonList(list)}`);
        const next: Entry[] = [];
        let size: number | null = null;
        for (const value of operation.value) {
          const entry = sameUrls ? this.known(value) : await this.checked(value);
          if (!sameUrls && next.some((e) => sameLocation(e, entry))) fail('BAD_REQUEST', `The location ${value.url} already exists`);
          if (size === null && !sameUrls) size = await this.sizeOf(entry);
          next.push(entry);
        }
        list = next;
        activate(hashes, size);
        continue;
      }
      this.allowed('add');
      if (status() !== 'active' && status() !== 'queued') fail('IMAGE_INVALID_STATUS', `It's not allowed to add locations if image status is ${status()}.`);
      const hashes = newValidationValues(current(), [operation.value], this.options.hashingAlgorithm);
      const position = operation.position === '-' ? list.length : /^\d+$/.test(operation.position) ? Number(operation.position) : -1;
      if (position < 0) fail('BAD_REQUEST', 'Invalid position for adding a location.');
      this.checkQuota(list.length + 1);
      const entry = await this.checked(operation.value);
      if (list.some((e) => sameLocation(e, entry))) fail('BAD_REQUEST', `The location ${operation.value.url} already exists`);
      list.splice(Math.min(position, list.length), 0, entry);
      activate(hashes, await this.sizeOf(entry));
    }
    const changes: ImageChanges = {
      attributes,
      replaceLocations: list.map(({ storeId, key, metadata }) => ({ storeId, key, metadata })),
    };
    return { changes, removed: removed.filter((r) => !list.some((l) => l.storeId === r.storeId && l.key === r.key)) };
  }

  private allowed(verb: 'add' | 'update' | 'remove'): void {
    if (!this.options.showMultipleLocations) fail('LOCATIONS_NOT_ALLOWED', `It's not allowed to ${verb} locations if locations are invisible.`);
  }

  private checkQuota(count: number): void {
    const limit = this.options.locationQuota;
    if (limit >= 0 && count > limit) {
      fail('LOCATION_QUOTA_EXCEEDED', `The limit has been exceeded on the number of allowed image locations. Attempted: ${count}, Maximum: ${limit}`);
    }
  }

  private canonical(url: string): string {
    const object = resolveLocationUrl(url, this.options.stores);
    return (object && this.options.stores.locationUrl(object.storeId, object.key)) ?? url;
  }

  /** A location whose URL is among the image's already (a metadata update): no store check. */
  private known(value: LocationValue): Entry {
    const object = resolveLocationUrl(value.url, this.options.stores);
    if (!object) fail('BAD_REQUEST', 'Invalid location');
    return this.entry(object, value);
  }

  /** A new location: its URL must name an object of a configured store (Glance: "Invalid location"). */
  private async checked(value: LocationValue): Promise<Entry> {
    const entry = this.known(value);
    if ((await this.sizeOf(entry)) === null) fail('BAD_REQUEST', 'Invalid location');
    return entry;
  }

  private entry(object: StoredObject, value: LocationValue): Entry {
    const { stores } = this.options;
    // multi-store: Glance records which store the URL belongs to
    const metadata = stores.multiStore ? { ...value.metadata, store: object.storeId } : value.metadata;
    return { ...object, metadata, url: stores.locationUrl(object.storeId, object.key) ?? value.url };
  }

  /** The object's size; null when it is missing or empty (Glance refuses both). */
  private async sizeOf(object: StoredObject): Promise<number | null> {
    const store = this.options.stores.get(object.storeId);
    if (!store) return null;
    try {
      const { size } = await store.stat(object.key);
      return size > 0 ? size : null;
    } catch (err) {
      if (isStoreError(err, 'not_found') || isStoreError(err, 'invalid_key')) return null;
      throw new GlintError('STORE_UNAVAILABLE', `The store ${object.storeId} is unavailable: ${String(err)}`, undefined, { cause: err });
    }
  }
}

/** Glance's 403 explanation; its location messages come as the detail. */
const ACCESS_DENIED = 'Access was denied to this resource.';

/** The locations as Glance prints them in a message (Python's repr of its list). */
function pythonList(entries: readonly Entry[]): string {
  const repr = (value: unknown): string =>
    typeof value === 'string'
      ? `'${value}'`
      : value !== null && typeof value === 'object'
        ? `{${Object.entries(value).map(([k, v]) => `'${k}': ${repr(v)}`).join(', ')}}`
        : String(value);
  return `[${entries.map((e) => repr({ url: e.url, metadata: e.metadata, status: 'active' })).join(', ')}]`;
}

function sortedUrls(entries: ReadonlyArray<{ url: string }>): string[] {
  return entries.map((e) => e.url).sort();
}

function sameLocation(a: Entry, b: Entry): boolean {
  return a.url === b.url && JSON.stringify(a.metadata) === JSON.stringify(b.metadata);
}

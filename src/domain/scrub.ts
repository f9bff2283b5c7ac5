import { createHash } from 'node:crypto';
import { isStoreError } from '../stores/blob-store';
import type { StoreRegistry } from '../stores/registry';
import type { Image } from './image';
import type { ImageRepository } from './repositories';

/** One stored copy of an active image that is not what the catalog says. */
export interface ScrubFinding {
  imageId: string;
  storeId: string;
  key: string;
  /** missing: no object; corrupt: digests or size differ; unreadable: the store failed; unknown_store: not configured. */
  problem: 'missing' | 'corrupt' | 'unreadable' | 'unknown_store';
  detail: string;
}

export interface ScrubPlan {
  images: Image[];
  /** Σ size over the copies to read: what the progress counts up to. */
  totalBytes: number;
  storeId: string | null;
}

export interface ScrubReport {
  images: number;
  copies: number;
  bytes: number;
  findings: ScrubFinding[];
}

const PAGE = 500;

/**
 * Re-reads every copy of every active image (or those in one store) and checks it against the
 * catalog: size, md5 (`checksum`) and the `os_hash_algo` digest (`os_hash_value`). Read-only: a
 * finding is reported, never repaired. Images whose data is being written are not active, so they
 * are left out; one deleted while scrubbed may show up as missing.
 */
export class DataScrubber {
  constructor(private readonly deps: { images: ImageRepository; stores: StoreRegistry }) {}

  /** The active images to check, oldest first (every owner, hidden ones too). */
  async plan(storeId: string | null): Promise<ScrubPlan> {
    const images: Image[] = [];
    let marker: Image | undefined;
    for (;;) {
      const page = await this.deps.images.list({
        scope: { kind: 'everything', projectId: null, includeAllCommunity: true },
        filters: [{ column: 'status', op: 'eq', value: 'active' }],
        properties: {},
        tags: [],
        sort: [
          { key: 'createdAt', dir: 'asc' },
          { key: 'id', dir: 'asc' },
        ],
        marker,
        limit: PAGE,
      });
      images.push(...page.filter((image) => copies(image, storeId).length > 0));
      if (page.length < PAGE) break;
      marker = page[page.length - 1];
    }
    const totalBytes = images.reduce((sum, image) => sum + (image.size ?? 0) * copies(image, storeId).length, 0);
    return { images, totalBytes, storeId };
  }

  /** Checks the plan's copies one by one; `onBytes` is told of every chunk read. */
  async scrub(plan: ScrubPlan, onBytes: (bytes: number) => void = () => {}): Promise<ScrubReport> {
    const report: ScrubReport = { images: plan.images.length, copies: 0, bytes: 0, findings: [] };
    for (const image of plan.images) {
      for (const location of copies(image, plan.storeId)) {
        report.copies++;
        const finding = (problem: ScrubFinding['problem'], detail: string) =>
          report.findings.push({ imageId: image.id, storeId: location.storeId, key: location.key, problem, detail });
        const store = this.deps.stores.get(location.storeId);
        if (!store) {
          finding('unknown_store', `store ${location.storeId} is not configured`);
          continue;
        }
        const md5 = createHash('md5');
        const algo = image.osHashAlgo ?? 'sha512';
        const multihash = createHash(algo);
        let size = 0;
        try {
          const { body } = await store.get(location.key);
          for await (const chunk of body as AsyncIterable<Buffer>) {
            md5.update(chunk);
            multihash.update(chunk);
            size += chunk.length;
            onBytes(chunk.length);
          }
        } catch (err) {
          if (isStoreError(err, 'not_found')) finding('missing', 'no object under the key');
          else finding('unreadable', err instanceof Error ? err.message : String(err));
          continue;
        } finally {
          report.bytes += size;
        }
        const problems: string[] = [];
        if (image.size !== null && size !== image.size) problems.push(`size ${size}, catalog ${image.size}`);
        const checksum = md5.digest('hex');
        if (image.checksum && checksum !== image.checksum) problems.push(`md5 ${checksum}, catalog checksum ${image.checksum}`);
        const hash = multihash.digest('hex');
        if (image.osHashValue && hash !== image.osHashValue) problems.push(`${algo} differs from os_hash_value`);
        if (problems.length > 0) finding('corrupt', problems.join('; '));
      }
    }
    return report;
  }
}

function copies(image: Image, storeId: string | null) {
  return image.locations.filter((location) => storeId === null || location.storeId === storeId);
}

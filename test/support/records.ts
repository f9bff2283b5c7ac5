import { randomUUID } from 'node:crypto';
import type { NewImage } from '../../src/domain/repositories';

/** A catalog row for a new image: queued, shared, no data, no formats; `overrides` win. */
export function newImageRecord(overrides: Partial<NewImage> = {}): NewImage {
  return {
    id: randomUUID(),
    name: null,
    status: 'queued',
    visibility: 'shared',
    protected: false,
    osHidden: false,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    owner: null,
    size: null,
    virtualSize: null,
    minRam: 0,
    minDisk: 0,
    containerFormat: null,
    diskFormat: null,
    properties: {},
    tags: [],
    ...overrides,
  };
}

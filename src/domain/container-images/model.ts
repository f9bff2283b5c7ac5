/**
 * Container images as the iSulad image store keeps them (see ../../../../shared/spec/isulad-image-store.md):
 * a record with names, a top layer, opaque metadata and keyed "big data" (manifest, config,
 * signatures) with sha256 digests. They are rows of the catalog's `images` table of their own kind,
 * never Glance disk images.
 */

/** Nanoseconds since the Unix epoch: iSulad writes times with nine fractional digits. */
export type EpochNanos = bigint;

/** One keyed blob of an image, as recorded. */
export interface BigDataEntry {
  key: string;
  /** The store and object holding the bytes. */
  storeId: string;
  objectKey: string;
  /** Bytes stored. */
  size: number;
  /** `sha256:<hex>` of the stored bytes. */
  digest: string;
}

/** What the catalog holds for one container image. */
export interface ContainerImageRecord {
  id: string;
  /** Byte-wise sorted, unique. */
  names: string[];
  /** The searchable digest (normally the manifest's), or null. */
  digest: string | null;
  layer: string | null;
  metadata: string | null;
  created: EpochNanos;
  loaded: EpochNanos;
  /** Set by the caller (layers + big data); 0 until set. */
  size: number;
  /** In first-set order. */
  bigData: BigDataEntry[];
}

/** An image as the library presents it. */
export interface StoredImage {
  id: string;
  names: string[];
  digest: string | null;
  layer: string | null;
  metadata: string | null;
  created: Date;
  loaded: Date;
  size: number;
  /** Keys in first-set order. */
  bigDataNames: string[];
  /** Names that are tags (not `…@sha256:<hex>`). */
  repoTags: string[];
  /** Digest-form names, plus `<repository>@<digest>` for every tag (see repoDigests). */
  repoDigests: string[];
}

/** A new record; `names` must not belong to any other image. */
export interface NewContainerImage {
  id: string;
  names: string[];
  digest: string | null;
  layer: string | null;
  metadata: string | null;
  created: EpochNanos;
  loaded: EpochNanos;
  size: number;
}

/** Scalar fields a change may set. */
export type ContainerImageChanges = Partial<Pick<ContainerImageRecord, 'digest' | 'layer' | 'metadata' | 'loaded' | 'size'>>;

/** The create command of the library (iSulad's `create`). */
export interface CreateContainerImage {
  id?: string;
  names?: readonly string[];
  layer?: string;
  metadata?: string;
  created?: Date;
  digest?: string;
}

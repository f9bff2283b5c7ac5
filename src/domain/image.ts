/** The image model shared by every surface, and the rules of its status machine. */
import { fail } from './errors';

export const IMAGE_STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'pending_delete',
  'deactivated',
  'uploading',
  'importing',
] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

export interface ImageLocation {
  storeId: string;
  /** Object key inside the store. */
  key: string;
  /** Free-form metadata kept with the location (Glance's location `metadata`). */
  metadata: Record<string, unknown>;
  createdAt: Date;
}

export interface Image {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: Visibility;
  protected: boolean;
  osHidden: boolean;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  owner: string | null;
  size: number | null;
  virtualSize: number | null;
  minRam: number;
  minDisk: number;
  containerFormat: string | null;
  diskFormat: string | null;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  /** Increases on every persisted change; the basis of optimistic concurrency. */
  revision: number;
  /** User-visible extra properties (Glance custom properties, including `os_glance_*`). */
  properties: Record<string, string>;
  tags: string[];
  /** Live locations in the order they were added. */
  locations: ImageLocation[];
}

export interface ImageMember {
  imageId: string;
  memberId: string;
  status: MemberStatus;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Allowed status transitions (Glance §11). Deletion is allowed from every status except
 * `deleted` and is not listed here.
 */
const TRANSITIONS: Readonly<Record<ImageStatus, readonly ImageStatus[]>> = {
  queued: ['saving', 'uploading', 'importing', 'active'],
  saving: ['active', 'queued'],
  uploading: ['importing', 'queued'],
  importing: ['active', 'queued'],
  active: ['deactivated', 'pending_delete'],
  deactivated: ['active'],
  pending_delete: ['deleted', 'active'],
  killed: [],
  deleted: [],
};

export function canTransition(from: ImageStatus, to: ImageStatus): boolean {
  if (to === 'deleted') return from !== 'deleted';
  return TRANSITIONS[from].includes(to);
}

/** Refuses a transition the table does not allow, in Glance's words (409). */
export function assertTransition(from: ImageStatus, to: ImageStatus): void {
  if (!canTransition(from, to)) fail('IMAGE_INVALID_STATUS', `Image status transition from ${from} to ${to} is not allowed`);
}

/** Statuses whose images never appear in lists or lookups. */
export const HIDDEN_STATUSES: readonly ImageStatus[] = ['deleted', 'killed'];

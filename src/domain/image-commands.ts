import type { Visibility } from './image';

/**
 * The typed commands every surface sends the image service, in the domain's own field names.
 * A surface turns its wire format (Glance JSON, EdgeGallery form fields…) into these and applies
 * its own body rules first; the service applies the rules every surface shares.
 */

/** A new image record. Omitted fields take their defaults (queued, shared, unprotected, 0…). */
export interface NewImage {
  /** Lower-case UUID; a fresh one when omitted. */
  id?: string;
  name?: string | null;
  visibility?: Visibility;
  protected?: boolean;
  osHidden?: boolean;
  /** Omitted: the caller's project. Another project's id needs the admin role. */
  owner?: string | null;
  minRam?: number;
  minDisk?: number;
  containerFormat?: string | null;
  diskFormat?: string | null;
  /** Custom properties. */
  properties?: Record<string, string>;
  tags?: string[];
}

/** Base attributes an edit may set. */
export interface EditableAttributes {
  name: string | null;
  visibility: Visibility;
  protected: boolean;
  osHidden: boolean;
  owner: string | null;
  minRam: number;
  minDisk: number;
  containerFormat: string | null;
  diskFormat: string | null;
}

/**
 * One step of an edit; steps apply in order on one read of the image and are saved together.
 * `label` is how the client named the field, for messages.
 */
export type ImageChange =
  | { [K in keyof EditableAttributes]: { kind: 'attribute'; field: K; value: EditableAttributes[K]; label: string; mustNotExist?: boolean } }[keyof EditableAttributes]
  /** Base attributes and the tag set cannot be removed: this step fails with that message. */
  | { kind: 'unset'; label: string }
  /** `mustExist` for replace and remove; `mustNotExist` for a strict add. */
  | { kind: 'property'; op: 'set' | 'remove'; name: string; value?: string; mustExist?: boolean; mustNotExist?: boolean }
  | { kind: 'tags'; tags: string[] };

import documents from './schema-documents.json';

/**
 * The ten /v2/schemas/metadefs/* documents, as Glance 25.1 serves them (glance/api/v2/metadef_*.py
 * `get_schema()` / `get_collection_schema()` `.raw()`, recorded from the Debian package). The same
 * documents validate request bodies (json-schema.ts), as in Glance.
 */
export type MetadefSchemaKind = keyof typeof documents;

const KINDS = new Set(Object.keys(documents));

export function metadefSchema(kind: string): Record<string, unknown> | null {
  if (!KINDS.has(kind)) return null;
  // a fresh copy per answer: nothing downstream may change the recorded documents
  return structuredClone(documents[kind as MetadefSchemaKind]) as Record<string, unknown>;
}

export function schemaDocument(kind: MetadefSchemaKind): Record<string, unknown> {
  return documents[kind] as Record<string, unknown>;
}

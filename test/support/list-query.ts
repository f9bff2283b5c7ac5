import type { ImageListQuery } from '../../src/catalog/repository';

/**
 * The catalog query an admin's (or, without auth, anyone's) `GET /v2/images?limit=20` becomes:
 * every image in scope, hidden ones left out, newest first; `overrides` replace whole fields.
 */
export function defaultListQuery(overrides: Partial<ImageListQuery> = {}): ImageListQuery {
  return {
    scope: { kind: 'everything', projectId: null, includeAllCommunity: false },
    filters: [{ column: 'os_hidden', op: 'eq', value: false }],
    properties: {},
    tags: [],
    sort: [
      { key: 'created_at', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ],
    limit: 20,
    ...overrides,
  };
}

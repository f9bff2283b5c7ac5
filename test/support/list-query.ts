import type { ImageListQuery } from '../../src/domain/repositories';

/**
 * The catalog query an admin's (or, without auth, anyone's) `GET /v2/images?limit=20` becomes:
 * every image in scope, hidden ones left out, newest first; `overrides` replace whole fields.
 */
export function defaultListQuery(overrides: Partial<ImageListQuery> = {}): ImageListQuery {
  return {
    scope: { kind: 'everything', projectId: null, includeAllCommunity: false },
    filters: [{ column: 'osHidden', op: 'eq', value: false }],
    properties: {},
    tags: [],
    sort: [
      { key: 'createdAt', dir: 'desc' },
      { key: 'id', dir: 'desc' },
    ],
    limit: 20,
    ...overrides,
  };
}

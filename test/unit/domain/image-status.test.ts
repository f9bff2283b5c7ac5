import assert from 'node:assert/strict';
import { isGlintError } from '../../../src/domain/errors';
import { assertTransition, canTransition, IMAGE_STATUSES, type ImageStatus } from '../../../src/domain/image';

/** The status machine of Glance §11, as the ingest pipeline and the actions rely on it. */
describe('image status machine', () => {
  const allowed: Array<[ImageStatus, ImageStatus]> = [
    ['queued', 'saving'],
    ['queued', 'uploading'],
    ['queued', 'importing'],
    ['queued', 'active'],
    ['saving', 'active'],
    ['saving', 'queued'],
    ['uploading', 'importing'],
    ['uploading', 'queued'],
    ['importing', 'active'],
    ['importing', 'queued'],
    ['active', 'deactivated'],
    ['active', 'pending_delete'],
    ['deactivated', 'active'],
    ['pending_delete', 'active'],
    ['pending_delete', 'deleted'],
  ];

  it('allows exactly the listed transitions, plus deletion from every status but deleted', () => {
    for (const from of IMAGE_STATUSES) {
      for (const to of IMAGE_STATUSES) {
        const expected = to === 'deleted' ? from !== 'deleted' : allowed.some(([a, b]) => a === from && b === to);
        assert.equal(canTransition(from, to), expected, `${from} → ${to}`);
      }
    }
  });

  it('a second upload cannot start: saving, uploading and importing are entered from queued only', () => {
    for (const from of IMAGE_STATUSES) {
      if (from === 'queued') continue;
      for (const to of ['saving', 'uploading'] as const) assert.equal(canTransition(from, to), false, `${from} → ${to}`);
    }
  });

  it('killed and deleted are terminal', () => {
    for (const to of IMAGE_STATUSES) {
      if (to !== 'deleted') assert.equal(canTransition('killed', to), false);
      assert.equal(canTransition('deleted', to), false);
    }
  });

  it('a refused transition is a conflict in Glance words', () => {
    assert.throws(
      () => assertTransition('active', 'saving'),
      (err: unknown) => isGlintError(err, 'IMAGE_INVALID_STATUS') && err.kind === 'conflict' && err.message === 'Image status transition from active to saving is not allowed',
    );
    assert.doesNotThrow(() => assertTransition('queued', 'saving'));
  });
});

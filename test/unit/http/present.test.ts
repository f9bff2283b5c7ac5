import assert from 'node:assert/strict';
import { glanceTime } from '../../../src/http/surfaces/glance-v2/present';

describe('Glance timestamps', () => {
  it('are UTC to the second with a literal Z, zero-padded', () => {
    assert.equal(glanceTime(new Date('2024-02-03T04:05:06.789Z')), '2024-02-03T04:05:06Z');
    assert.equal(glanceTime(new Date('1999-12-31T23:59:59.999Z')), '1999-12-31T23:59:59Z');
  });

  it('keep the ISO form for years outside four digits', () => {
    assert.equal(glanceTime(new Date('+012345-06-07T08:09:10.000Z')), '+012345-06-07T08:09:10Z');
  });
});

import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../../support/app';
import { createImage, getImage } from './support/harness';

describe('Glance v2: tags', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp('[DEFAULT]\nimage_tag_quota = 3\n');
  });
  after(async function () {
    await app.close();
  });

  it('#54 tag PUT → 204 with an empty body; twice is fine and keeps one copy', async function () {
    const id = (await createImage(app)).id as string;
    const first = await app.http.put(`/v2/images/${id}/tags/blue`);
    assert.equal(first.status, 204);
    assert.equal(first.text, '');
    assert.equal((await app.http.put(`/v2/images/${id}/tags/blue`)).status, 204);
    assert.deepEqual((await getImage(app, id)).tags, ['blue']);
  });

  it('#54 a tag of 256 characters → 400; 255 is fine; the limit counts UTF-8 bytes', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await app.http.put(`/v2/images/${id}/tags/${'t'.repeat(256)}`)).status, 400);
    assert.equal((await app.http.put(`/v2/images/${id}/tags/${'t'.repeat(255)}`)).status, 204);
    const twoByte = encodeURIComponent('é'.repeat(128)); // 256 bytes
    assert.equal((await app.http.put(`/v2/images/${id}/tags/${twoByte}`)).status, 400);
    assert.deepEqual((await getImage(app, id)).tags, ['t'.repeat(255)]);
  });

  it('#54 DELETE of an unknown tag → 404; of a present one → 204 and it is gone', async function () {
    const id = (await createImage(app, { tags: ['keep', 'drop'] })).id as string;
    assert.equal((await app.http.delete(`/v2/images/${id}/tags/nope`)).status, 404);
    const res = await app.http.delete(`/v2/images/${id}/tags/drop`);
    assert.equal(res.status, 204);
    assert.deepEqual((await getImage(app, id)).tags, ['keep']);
    assert.equal((await app.http.delete(`/v2/images/${id}/tags/drop`)).status, 404);
  });

  it('#54 tags over image_tag_quota → 413; re-adding a present tag at the limit is fine', async function () {
    const id = (await createImage(app, { tags: ['a', 'b', 'c'] })).id as string;
    assert.equal((await app.http.put(`/v2/images/${id}/tags/d`)).status, 413);
    assert.equal((await app.http.put(`/v2/images/${id}/tags/a`)).status, 204);
    assert.deepEqual(((await getImage(app, id)).tags as string[]).sort(), ['a', 'b', 'c']);
  });

  it('tags in the path are decoded as UTF-8 (§0.10); 4-byte characters are accepted', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await app.http.put(`/v2/images/${id}/tags/caf%C3%A9`)).status, 204);
    assert.equal((await app.http.put(`/v2/images/${id}/tags/${encodeURIComponent('🚀')}`)).status, 204);
    assert.deepEqual(((await getImage(app, id)).tags as string[]).sort(), ['café', '🚀'].sort());
    const listed = await app.http.get(`/v2/images?tag=${encodeURIComponent('café')}`);
    assert.deepEqual(listed.body.images.map((i: { id: string }) => i.id), [id]);
    assert.equal((await app.http.delete(`/v2/images/${id}/tags/caf%C3%A9`)).status, 204);
  });

  it('a tag containing / (even percent-encoded) cannot be addressed → 404', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await app.http.put(`/v2/images/${id}/tags/a%2Fb`)).status, 404);
    assert.equal((await app.http.put(`/v2/images/${id}/tags/a/b`)).status, 404);
    assert.deepEqual((await getImage(app, id)).tags, []);
  });

  it('tag PUT on a missing image → 404', async function () {
    assert.equal((await app.http.put('/v2/images/0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f/tags/x')).status, 404);
  });
});

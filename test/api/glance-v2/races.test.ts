import assert from 'node:assert/strict';
import { request } from 'node:http';
import { SECTIONS } from '../../../src/config/schema';
import type { TestApp } from '../../support/app';
import { as, startTestApp, TRUSTED } from '../../support/app';
import {
  assertNoDataFor,
  bytes,
  createImage,
  forEachStore,
  getImage,
  listen,
  md5,
  patchImage,
  rawPut,
  waitForImage,
  type Listening,
  type StoreVariant,
} from './support/harness';

/**
 * Races (issue 16): many writers on one image end in exactly one outcome the status table allows,
 * and a delete during an upload stops the upload at once, leaving nothing behind.
 */
forEachStore('Glance v2: races on image data', (variant: StoreVariant) => {
  let app: TestApp;
  let server: Listening;
  before(async function () {
    // a short write lease: a node notices a deleted image within a third of it
    app = await variant.start({ sections: '[glint]\nwrite_lease_time = 1\n' });
    server = await listen(app);
  });
  after(async function () {
    await server?.close();
    await app?.close();
  });

  it('50 concurrent PUT /file on one image → exactly one 204, the rest 409; the winner\'s bytes are stored', async function () {
    this.timeout(60_000);
    const id = (await createImage(app)).id as string;
    const bodies = Array.from({ length: 50 }, () => bytes(20_000));
    const statuses = await Promise.all(
      bodies.map(
        (data) =>
          new Promise<number>((resolve, reject) => {
            const req = request(`${server.url}/v2/images/${id}/file`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length } }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
            req.end(data);
          }),
      ),
    );
    const counts = statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});
    assert.deepEqual(counts, { 204: 1, 409: 49 });
    const image = await getImage(app, id);
    assert.equal(image.status, 'active');
    const winner = bodies[statuses.indexOf(204)];
    assert.equal(image.checksum, md5(winner));
  });

  it('DELETE during a slow upload answers at once; the upload gets 410 before its body is finished, nothing is left', async function () {
    this.timeout(30_000);
    // the upload learns of the deletion through its write lease (crash recovery, landing beside this)
    if (!SECTIONS.glint.some((spec) => spec.key === 'write_lease_time')) this.skip();
    const id = (await createImage(app)).id as string;
    const put = rawPut(server, `/v2/images/${id}/file`, { 'Content-Length': String(50 * 1024 * 1024) });
    await put.write(bytes(300_000));
    await waitForImage(app, id, (i) => i.status === 'saving');
    const deleted = await app.http.delete(`/v2/images/${id}`);
    assert.equal(deleted.status, 204);
    // the client never sends the rest of its 50 MiB: the answer must come without it
    const res = await put.response;
    put.abort();
    assert.equal(res.status, 410, res.body);
    assert.equal((await app.http.get(`/v2/images/${id}`)).status, 404);
    await assertNoDataFor(app, variant.storeId, id);
  });
});

describe('Glance v2: concurrent metadata writes end in a consistent state', function () {
  let app: TestApp;
  const OWNER = as('owner');
  before(async function () {
    app = await startTestApp(`${TRUSTED}[DEFAULT]\nimage_property_quota = 200\nimage_tag_quota = 200\nimage_member_quota = 200\n`);
  });
  after(async function () {
    await app.close();
  });

  it('40 concurrent PATCHes adding different properties: every one that answered 200 is kept, nothing else', async function () {
    const id = (await createImage(app, {}, OWNER)).id as string;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => patchImage(app, id, [{ op: 'add', path: `/p${i}`, value: `v${i}` }], OWNER)));
    for (const r of results) assert.ok(r.status === 200 || r.status === 409, `${r.status} ${r.text}`);
    const image = await getImage(app, id, OWNER);
    for (let i = 0; i < 40; i++) {
      if (results[i].status === 200) assert.equal(image[`p${i}`], `v${i}`, `p${i} answered 200 but is missing`);
      else assert.equal(image[`p${i}`], undefined, `p${i} answered 409 but is present`);
    }
    assert.ok(results.filter((r) => r.status === 200).length >= 1);
  });

  it('40 concurrent PATCHes replacing one property: the final value is one of the successful writes', async function () {
    const id = (await createImage(app, { name: 'start' }, OWNER)).id as string;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => patchImage(app, id, [{ op: 'replace', path: '/name', value: `n${i}` }], OWNER)));
    const won = results.flatMap((r, i) => (r.status === 200 ? [`n${i}`] : []));
    for (const r of results) assert.ok(r.status === 200 || r.status === 409, `${r.status} ${r.text}`);
    assert.ok(won.includes((await getImage(app, id, OWNER)).name as string));
  });

  it('50 concurrent tag adds (and removes of half of them afterwards, concurrently) leave exactly the expected tags', async function () {
    const id = (await createImage(app, {}, OWNER)).id as string;
    const tags = Array.from({ length: 50 }, (_, i) => `t${i}`);
    const added = await Promise.all(tags.map((t) => app.http.put(`/v2/images/${id}/tags/${t}`).set(OWNER)));
    assert.deepEqual([...new Set(added.map((r) => r.status))], [204]);
    assert.deepEqual(((await getImage(app, id, OWNER)).tags as string[]).sort(), [...tags].sort());
    const gone = tags.filter((_, i) => i % 2 === 0);
    const removed = await Promise.all([
      ...gone.map((t) => app.http.delete(`/v2/images/${id}/tags/${t}`).set(OWNER)),
      ...gone.map((t) => app.http.delete(`/v2/images/${id}/tags/${t}`).set(OWNER)),
    ]);
    // each tag is removed once: one 204 and one 404 per tag
    for (const t of gone) {
      const pair = [removed[gone.indexOf(t)].status, removed[gone.length + gone.indexOf(t)].status].sort();
      assert.deepEqual(pair, [204, 404], t);
    }
    assert.deepEqual(((await getImage(app, id, OWNER)).tags as string[]).sort(), tags.filter((_, i) => i % 2 === 1).sort());
  });

  it('concurrent member adds (each twice), then concurrent status updates: one member per project, its last accepted status', async function () {
    const id = (await createImage(app, { visibility: 'shared' }, OWNER)).id as string;
    const projects = Array.from({ length: 20 }, (_, i) => `proj${i}`);
    const adds = await Promise.all([...projects, ...projects].map((p) => app.http.post(`/v2/images/${id}/members`).set(OWNER).send({ member: p })));
    for (const p of projects) {
      const pair = [adds[projects.indexOf(p)].status, adds[projects.length + projects.indexOf(p)].status].sort();
      assert.deepEqual(pair, [200, 409], p);
    }
    const updates = await Promise.all(projects.map((p, i) => app.http.put(`/v2/images/${id}/members/${p}`).set(as(p)).send({ status: i % 2 ? 'accepted' : 'rejected' })));
    assert.deepEqual([...new Set(updates.map((r) => r.status))], [200]);
    const list = await app.http.get(`/v2/images/${id}/members`).set(OWNER);
    const members = list.body.members as Array<{ member_id: string; status: string }>;
    assert.deepEqual(members.map((m) => m.member_id).sort(), [...projects].sort());
    for (const m of members) assert.equal(m.status, Number(m.member_id.slice(4)) % 2 ? 'accepted' : 'rejected', m.member_id);
  });
});

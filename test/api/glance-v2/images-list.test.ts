import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { createImage, patchImage, sleep } from './support/harness';
import { newImageRecord } from '../../support/records';

type Doc = Record<string, unknown>;
const ids = (res: { body: { images: Doc[] } }) => res.body.images.map((i) => i.id as string);
const names = (res: { body: { images: Doc[] } }) => res.body.images.map((i) => i.name as string);

describe('Glance v2: GET /v2/images (list)', function () {
  describe('paging', function () {
    let app: TestApp;
    before(async function () {
      app = await startTestApp();
      // 1001 images straight into the catalog: enough to see the 1000 cap without 1001 requests
      const now = Date.now();
      for (let i = 0; i < 1001; i++) {
        await app.app.catalog.images.create(
          newImageRecord({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `bulk-${i}`, createdAt: new Date(now - (1001 - i) * 1000) }),
        );
      }
    });
    after(async function () {
      await app.close();
    });

    it('#18 default page size is 25', async function () {
      const res = await app.http.get('/v2/images');
      assert.equal(res.status, 200);
      assert.equal(res.body.images.length, 25);
    });

    it('#18 limit=5000 is silently capped at 1000', async function () {
      const res = await app.http.get('/v2/images?limit=5000');
      assert.equal(res.status, 200);
      assert.equal(res.body.images.length, 1000);
      assert.ok(res.body.next, 'a full page announces a next page');
    });

    it('#18 the default and the cap follow limit_param_default and api_limit_max', async function () {
      const small = await startTestApp('[DEFAULT]\nlimit_param_default = 2\napi_limit_max = 3\n');
      try {
        for (let i = 0; i < 5; i++) await createImage(small, { name: `s${i}` });
        assert.equal((await small.http.get('/v2/images')).body.images.length, 2);
        const capped = await small.http.get('/v2/images?limit=50');
        assert.equal(capped.body.images.length, 3);
        assert.ok(capped.body.next.endsWith(`marker=${capped.body.images[2].id as string}`));
      } finally {
        await small.close();
      }
    });

    it('#18 limit=-1 → 400, limit=x → 400, limit=1.5 → 400', async function () {
      for (const limit of ['-1', 'x', '1.5', '']) {
        assert.equal((await app.http.get(`/v2/images?limit=${limit}`)).status, 400, limit);
      }
    });

    it('#18 an unknown marker → 400', async function () {
      const res = await app.http.get('/v2/images?marker=0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f');
      assert.equal(res.status, 400);
      assert.equal((await app.http.get('/v2/images?marker=not-an-id')).status, 400);
    });

    it('#19 envelope: images, first, schema and next (iff full) ending marker=<last id>', async function () {
      const res = await app.http.get('/v2/images?limit=3&name=in:bulk-1,bulk-2,bulk-3,bulk-4');
      assert.deepEqual(Object.keys(res.body).sort(), ['first', 'images', 'next', 'schema']);
      assert.equal(res.body.schema, '/v2/schemas/images');
      assert.equal(res.body.first, '/v2/images?limit=3&name=in%3Abulk-1%2Cbulk-2%2Cbulk-3%2Cbulk-4');
      const last = res.body.images[2].id as string;
      assert.ok(res.body.next.startsWith('/v2/images?'), res.body.next);
      assert.ok(res.body.next.endsWith(`marker=${last}`), res.body.next);
      const page2 = await app.http.get(res.body.next);
      assert.equal(page2.status, 200);
      assert.equal(page2.body.images.length, 1);
      assert.equal(page2.body.next, undefined, 'a short page has no next');
      assert.equal(page2.body.first, res.body.first, 'first drops the marker');
      assert.deepEqual(new Set([...ids(res), ...ids(page2)]).size, 4);
    });

    it('#19 next is emitted when the page is exactly full, and the last page may be empty', async function () {
      const res = await app.http.get('/v2/images?limit=2&name=in:bulk-7,bulk-8');
      assert.equal(res.body.images.length, 2);
      assert.ok(res.body.next);
      const page2 = await app.http.get(res.body.next);
      assert.deepEqual(page2.body.images, []);
      assert.equal(page2.body.next, undefined);
    });

    it('#19 limit=0 → empty list without next; no query → first is /v2/images', async function () {
      const zero = await app.http.get('/v2/images?limit=0');
      assert.deepEqual(zero.body.images, []);
      assert.equal(zero.body.next, undefined);
      const plain = await app.http.get('/v2/images');
      assert.equal(plain.body.first, '/v2/images');
    });

    it('walking next links visits every image once, in order', async function () {
      const seen: string[] = [];
      let url: string | undefined = '/v2/images?limit=400&sort=name:asc&name=in:' + Array.from({ length: 30 }, (_, i) => `bulk-${i}`).join(',');
      let pages = 0;
      while (url) {
        const res = await app.http.get(url);
        assert.equal(res.status, 200);
        seen.push(...names(res));
        url = res.body.next;
        pages += 1;
        if (res.body.images.length < 400) break;
      }
      assert.equal(seen.length, 30);
      assert.deepEqual(seen, [...seen].sort());
      assert.equal(pages, 1);
      const small: string[] = [];
      url = '/v2/images?limit=7&sort_key=name&sort_dir=asc&name=in:' + Array.from({ length: 30 }, (_, i) => `bulk-${i}`).join(',');
      while (url) {
        const res = await app.http.get(url);
        small.push(...names(res));
        url = res.body.next;
      }
      assert.deepEqual(small, seen);
    });
  });

  describe('sorting and filters', function () {
    let app: TestApp;
    const made: Record<string, Doc> = {};
    before(async function () {
      app = await startTestApp();
      const specs: Array<[string, Doc]> = [
        ['charlie', { disk_format: 'qcow2', container_format: 'bare', os_distro: 'ubuntu', tags: ['a', 'b'] }],
        ['alpha', { disk_format: 'raw', container_format: 'bare', os_distro: 'fedora', tags: ['a'] }],
        ['bravo', { disk_format: 'iso', container_format: 'ovf', protected: true, tags: ['b'] }],
        ['hidden', { os_hidden: true, disk_format: 'raw' }],
        ['a:b', { min_ram: 512 }],
        ['quoted,name', {}],
      ];
      for (const [name, extra] of specs) {
        made[name] = await createImage(app, { name, ...extra });
        await sleep(5);
      }
      // 10 bytes into alpha so size filters have something to find
      const res = await app.http
        .put(`/v2/images/${made.alpha.id as string}/file`)
        .set('Content-Type', 'application/octet-stream')
        .send(Buffer.from('0123456789'));
      assert.equal(res.status, 204);
      // deleted images never appear
      const gone = await createImage(app, { name: 'gone' });
      assert.equal((await app.http.delete(`/v2/images/${gone.id as string}`)).status, 204);
    });
    after(async function () {
      await app.close();
    });

    it('#20 default order is newest first (created_at desc)', async function () {
      const res = await app.http.get('/v2/images');
      assert.deepEqual(names(res), ['quoted,name', 'a:b', 'bravo', 'alpha', 'charlie']);
      assert.deepEqual(names(await app.http.get('/v2/images?sort_dir=asc')), ['charlie', 'alpha', 'bravo', 'a:b', 'quoted,name'], 'a lone sort_dir applies to created_at');
    });

    it('#20 sort=name:asc orders by name ascending; sort=name (no dir) is descending', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?sort=name:asc')), ['a:b', 'alpha', 'bravo', 'charlie', 'quoted,name']);
      assert.deepEqual(names(await app.http.get('/v2/images?sort=name')), ['quoted,name', 'charlie', 'bravo', 'alpha', 'a:b']);
      assert.deepEqual(names(await app.http.get('/v2/images?sort=disk_format:asc,name:desc&name=in:alpha,bravo,charlie')), ['bravo', 'charlie', 'alpha']);
    });

    it('#20 classic sort_key/sort_dir work, repeated keys take one or matching dirs', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?sort_key=name&sort_dir=asc')), ['a:b', 'alpha', 'bravo', 'charlie', 'quoted,name']);
      assert.deepEqual(
        names(await app.http.get('/v2/images?sort_key=disk_format&sort_key=name&sort_dir=asc&sort_dir=desc&name=in:alpha,bravo,charlie')),
        ['bravo', 'charlie', 'alpha'],
      );
      assert.equal((await app.http.get('/v2/images?sort_key=name&sort_key=id&sort_dir=asc&sort_dir=desc&sort_dir=asc')).status, 400);
    });

    it('#20 sort + sort_key → 400; sort_key=owner → 400; bad directions → 400', async function () {
      assert.equal((await app.http.get('/v2/images?sort=name:asc&sort_key=name')).status, 400);
      assert.equal((await app.http.get('/v2/images?sort=name:asc&sort_dir=asc')).status, 400);
      assert.equal((await app.http.get('/v2/images?sort_key=owner')).status, 400);
      assert.equal((await app.http.get('/v2/images?sort=owner:asc')).status, 400);
      assert.equal((await app.http.get('/v2/images?sort_dir=up')).status, 400);
      assert.equal((await app.http.get('/v2/images?sort=name:up')).status, 400);
    });

    it('#21 name=in:a,b returns both; eq: for values with a colon; quotes protect commas', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?name=in:alpha,bravo&sort=name:asc')), ['alpha', 'bravo']);
      assert.deepEqual(names(await app.http.get('/v2/images?name=eq:a:b')), ['a:b']);
      assert.deepEqual(names(await app.http.get('/v2/images?name=in:"quoted,name",alpha&sort=name:asc')), ['alpha', 'quoted,name']);
      assert.deepEqual(names(await app.http.get('/v2/images?name=alpha')), ['alpha']);
      assert.deepEqual(names(await app.http.get('/v2/images?disk_format=in:raw,iso&sort=name:asc')), ['alpha', 'bravo']);
    });

    it('#21 name=foo:bar (unknown operator) → 400', async function () {
      assert.equal((await app.http.get('/v2/images?name=foo:bar')).status, 400);
      assert.equal((await app.http.get('/v2/images?status=gt:queued')).status, 400);
    });

    it('#21 created_at=gte:<iso> works; bad operator or time → 400; changes-since → 400', async function () {
      const hourAgo = new Date(Date.now() - 3600_000).toISOString().slice(0, 19) + 'Z';
      const recent = await app.http.get(`/v2/images?created_at=gte:${hourAgo}`);
      assert.equal(recent.status, 200);
      assert.equal(recent.body.images.length, 5);
      assert.deepEqual((await app.http.get(`/v2/images?created_at=lt:${hourAgo}`)).body.images, []);
      assert.equal((await app.http.get(`/v2/images?updated_at=neq:${hourAgo}`)).body.images.length, 5);
      const exact = made.bravo.created_at as string;
      assert.ok(names(await app.http.get(`/v2/images?created_at=lte:${exact.replace('Z', '.999Z')}`)).includes('bravo'));
      const future = await app.http.get('/v2/images?created_at=gt:2999-01-01T00:00:00Z');
      assert.deepEqual(future.body.images, []);
      const past = await app.http.get('/v2/images?updated_at=lt:2000-01-01T00:00:00Z');
      assert.deepEqual(past.body.images, []);
      assert.equal((await app.http.get('/v2/images?created_at=bad:x')).status, 400);
      assert.equal((await app.http.get('/v2/images?created_at=bad:2024-01-01T00:00:00Z')).status, 400);
      assert.equal((await app.http.get('/v2/images?created_at=gte:yesterday')).status, 400);
      assert.equal((await app.http.get('/v2/images?changes-since=2024-01-01T00:00:00Z')).status, 400);
    });

    it('#22 os_hidden=true returns only hidden images; default excludes them; os_hidden=maybe → 400', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?os_hidden=true')), ['hidden']);
      assert.deepEqual(names(await app.http.get('/v2/images?os_hidden=True')), ['hidden'], 'case-insensitive');
      assert.ok(!names(await app.http.get('/v2/images')).includes('hidden'));
      assert.ok(!names(await app.http.get('/v2/images?os_hidden=false')).includes('hidden'));
      assert.equal((await app.http.get('/v2/images?os_hidden=maybe')).status, 400);
      assert.equal((await app.http.get(`/v2/images/${made.hidden.id as string}`)).status, 200, 'hidden images can still be fetched');
    });

    it('#22 protected=true filters; protected=True → 400', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?protected=true')), ['bravo']);
      assert.ok(!names(await app.http.get('/v2/images?protected=false')).includes('bravo'));
      assert.equal((await app.http.get('/v2/images?protected=True')).status, 400);
    });

    it('#23 size_min=abc → 400; size_min/size_max are inclusive', async function () {
      assert.equal((await app.http.get('/v2/images?size_min=abc')).status, 400);
      assert.equal((await app.http.get('/v2/images?size_max=1e3')).status, 400);
      assert.deepEqual(names(await app.http.get('/v2/images?size_min=10&size_max=10')), ['alpha']);
      assert.deepEqual((await app.http.get('/v2/images?size_min=11')).body.images, []);
    });

    it('#23 ?os_distro=ubuntu filters on a custom property; a misspelt parameter gives an empty list', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?os_distro=ubuntu')), ['charlie']);
      const misspelt = await app.http.get('/v2/images?os_distroo=ubuntu');
      assert.equal(misspelt.status, 200);
      assert.deepEqual(misspelt.body.images, []);
    });

    it('#23 tag=a&tag=b requires both tags; next links keep every tag', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?tag=a&tag=b')), ['charlie']);
      assert.deepEqual(names(await app.http.get('/v2/images?tag=a&sort=name:asc')), ['alpha', 'charlie']);
      const page = await app.http.get('/v2/images?tag=a&tag=b&limit=1');
      assert.equal(page.body.images.length, 1);
      const next = await app.http.get(page.body.next);
      assert.deepEqual(next.body.images, [], 'page 2 is not widened to images with only one of the tags');
    });

    it('other image columns filter by equality (min_ram, status, checksum)', async function () {
      assert.deepEqual(names(await app.http.get('/v2/images?min_ram=512')), ['a:b']);
      assert.deepEqual(names(await app.http.get('/v2/images?status=active')), ['alpha']);
      assert.deepEqual(names(await app.http.get('/v2/images?checksum=781e5e245d69b566979b86e28d23f2c7')), ['alpha']);
    });

    it('bad visibility or member_status values → 400', async function () {
      assert.equal((await app.http.get('/v2/images?visibility=everyone')).status, 400);
      assert.equal((await app.http.get('/v2/images?member_status=maybe')).status, 400);
    });

    it('deleted images are never listed, whatever the filters', async function () {
      for (const q of ['', '?name=gone', '?status=deleted', '?visibility=all']) {
        assert.ok(!names(await app.http.get(`/v2/images${q}`)).includes('gone'), q);
      }
    });
  });

  describe('visibility of rows (§7, trusted-auth)', function () {
    let app: TestApp;
    const img: Record<string, string> = {};
    before(async function () {
      app = await startTestApp(TRUSTED);
      const make = async (key: string, project: string, body: Doc, roles = 'member') => {
        img[key] = (await createImage(app, { name: key, ...body }, as(project, roles))).id as string;
      };
      await make('public-by-admin', 'projAdmin', { visibility: 'public' }, 'admin');
      await make('a-private', 'projA', { visibility: 'private' });
      await make('a-shared', 'projA', { visibility: 'shared' });
      await make('a-community', 'projA', { visibility: 'community' });
      await make('b-private', 'projB', { visibility: 'private' });
      await make('b-community', 'projB', { visibility: 'community' });
      await make('b-shared-accepted', 'projB', { visibility: 'shared' });
      await make('b-shared-pending', 'projB', { visibility: 'shared' });
      await make('b-shared-rejected', 'projB', { visibility: 'shared' });
      await make('b-shared-unrelated', 'projB', { visibility: 'shared' });
      for (const key of ['b-shared-accepted', 'b-shared-pending', 'b-shared-rejected']) {
        const res = await app.http.post(`/v2/images/${img[key]}/members`).set(as('projB')).send({ member: 'projA' });
        assert.equal(res.status, 200);
      }
      for (const [key, status] of [['b-shared-accepted', 'accepted'], ['b-shared-rejected', 'rejected']]) {
        const res = await app.http.put(`/v2/images/${img[key]}/members/projA`).set(as('projA')).send({ status });
        assert.equal(res.status, 200);
      }
    });
    after(async function () {
      await app.close();
    });

    const listAs = async (project: string, query = '', roles = 'member') => {
      const res = await app.http.get(`/v2/images${query}`).set(as(project, roles));
      assert.equal(res.status, 200, res.text);
      return names(res).sort();
    };

    it('#24 non-admin sees public, own (any visibility), own community, accepted shared — not others\' private/community', async function () {
      assert.deepEqual(await listAs('projA'), ['a-community', 'a-private', 'a-shared', 'b-shared-accepted', 'public-by-admin']);
    });

    it('#24 visibility=community / all widen to every community image', async function () {
      assert.deepEqual(await listAs('projA', '?visibility=community'), ['a-community', 'b-community']);
      assert.deepEqual(await listAs('projA', '?visibility=all'), [
        'a-community',
        'a-private',
        'a-shared',
        'b-community',
        'b-shared-accepted',
        'public-by-admin',
      ]);
      assert.deepEqual(await listAs('projA', '?visibility=private'), ['a-private']);
      assert.deepEqual(await listAs('projA', '?visibility=public'), ['public-by-admin']);
      assert.deepEqual(await listAs('projA', '?visibility=shared'), ['a-shared', 'b-shared-accepted']);
    });

    it('#25 pending membership: not in the member\'s default list, listed with member_status=pending, GET → 200', async function () {
      assert.ok(!(await listAs('projA')).includes('b-shared-pending'));
      assert.deepEqual(await listAs('projA', '?member_status=pending'), ['a-community', 'a-private', 'a-shared', 'b-shared-pending', 'public-by-admin']);
      assert.ok((await listAs('projA', '?member_status=rejected')).includes('b-shared-rejected'));
      const all = await listAs('projA', '?member_status=all');
      for (const key of ['b-shared-accepted', 'b-shared-pending', 'b-shared-rejected']) assert.ok(all.includes(key), key);
      assert.ok(!all.includes('b-shared-unrelated'));
      for (const key of ['b-shared-pending', 'b-shared-rejected']) {
        assert.equal((await app.http.get(`/v2/images/${img[key]}`).set(as('projA'))).status, 200, key);
      }
    });

    it('an unrelated project sees only public images (and its own)', async function () {
      assert.deepEqual(await listAs('projC'), ['public-by-admin']);
    });

    it('admin sees everything except community images not owned by its project, unless asked', async function () {
      const admin = await listAs('projAdmin', '', 'admin');
      assert.ok(admin.includes('b-private') && admin.includes('b-shared-unrelated') && admin.includes('a-private'));
      assert.ok(!admin.includes('a-community') && !admin.includes('b-community'));
      const withCommunity = await listAs('projAdmin', '?visibility=all', 'admin');
      assert.ok(withCommunity.includes('a-community') && withCommunity.includes('b-community'));
    });

    it('a shared image stops being listed for members once it is no longer shared', async function () {
      const id = (await createImage(app, { name: 'b-flip', visibility: 'shared' }, as('projB'))).id as string;
      await app.http.post(`/v2/images/${id}/members`).set(as('projB')).send({ member: 'projA' });
      await app.http.put(`/v2/images/${id}/members/projA`).set(as('projA')).send({ status: 'accepted' });
      assert.ok((await listAs('projA')).includes('b-flip'));
      assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/visibility', value: 'private' }], as('projB'))).status, 200);
      assert.ok(!(await listAs('projA')).includes('b-flip'));
      assert.equal((await app.http.get(`/v2/images/${id}`).set(as('projA'))).status, 404);
    });
  });
});

import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { activeImage, createImage, getImage, PATCH_V20, PATCH_V21, patchImage, sleep } from './support/harness';

describe('Glance v2: PATCH /v2/images/{id}', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp();
  });
  after(async function () {
    await app.close();
  });

  const fresh = async (body: Record<string, unknown> = {}) => (await createImage(app, { name: 'orig', ...body })).id as string;

  it('#28 Content-Type application/json → 415 with Accept-Patch listing both patch media types', async function () {
    const id = await fresh();
    for (const type of ['application/json', 'application/json-patch+json', '']) {
      const req = app.http.patch(`/v2/images/${id}`);
      if (type) req.set('Content-Type', type);
      const res = await req.send('[]');
      assert.equal(res.status, 415, type);
      const acceptPatch = (res.headers['accept-patch'] as string).split(',').map((s) => s.trim());
      assert.deepEqual(acceptPatch.sort(), [PATCH_V20, PATCH_V21].sort());
    }
    assert.equal((await getImage(app, id)).name, 'orig');
  });

  it('#28 media type parameters are ignored', async function () {
    const id = await fresh();
    const res = await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'p' }], {}, `${PATCH_V21}; charset=UTF-8`);
    assert.equal(res.status, 200);
  });

  it('#29 replace /name → 200 with the full image document', async function () {
    const id = await fresh();
    const before = await getImage(app, id);
    await sleep(1100);
    const res = await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'renamed' }]);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.body.name, 'renamed');
    assert.deepEqual(Object.keys(res.body).sort(), Object.keys(before).sort());
    assert.notEqual(res.body.updated_at, before.updated_at, 'updated_at moves on a change');
    assert.equal(res.body.created_at, before.created_at);
    assert.deepEqual(await getImage(app, id), res.body);
  });

  it('#29 add custom → 200; add on an existing key replaces it (v2.1); remove custom → gone', async function () {
    const id = await fresh();
    let res = await patchImage(app, id, [{ op: 'add', path: '/os_distro', value: 'ubuntu' }]);
    assert.equal(res.status, 200);
    assert.equal(res.body.os_distro, 'ubuntu');
    res = await patchImage(app, id, [{ op: 'add', path: '/os_distro', value: 'debian' }]);
    assert.equal(res.status, 200);
    assert.equal(res.body.os_distro, 'debian');
    res = await patchImage(app, id, [{ op: 'replace', path: '/os_distro', value: 'fedora' }]);
    assert.equal(res.body.os_distro, 'fedora');
    res = await patchImage(app, id, [{ op: 'remove', path: '/os_distro' }]);
    assert.equal(res.status, 200);
    assert.ok(!('os_distro' in res.body));
    assert.ok(!('os_distro' in (await getImage(app, id))));
  });

  it('#29 replace missing custom → 409; remove missing custom → 409; remove /name → 403', async function () {
    const id = await fresh();
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/nope', value: 'x' }])).status, 409);
    assert.equal((await patchImage(app, id, [{ op: 'remove', path: '/nope' }])).status, 409);
    assert.equal((await patchImage(app, id, [{ op: 'remove', path: '/name' }])).status, 403);
    assert.equal((await patchImage(app, id, [{ op: 'remove', path: '/min_ram' }])).status, 403);
    assert.equal((await getImage(app, id)).name, 'orig');
  });

  it('#30 PATCH /status, /id, /checksum, /size and other read-only paths → 403', async function () {
    const id = await fresh();
    const cases: Array<[string, unknown]> = [
      ['/status', 'active'],
      ['/id', '0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f'],
      ['/checksum', 'd41d8cd98f00b204e9800998ecf8427e'],
      ['/size', 5],
      ['/virtual_size', 5],
      ['/created_at', '2024-01-01T00:00:00Z'],
      ['/updated_at', '2024-01-01T00:00:00Z'],
      ['/os_hash_algo', 'sha512'],
      ['/os_hash_value', 'abc'],
      ['/direct_url', 'file:///x'],
      ['/self', '/x'],
      ['/file', '/x'],
      ['/schema', '/x'],
    ];
    for (const [path, value] of cases) {
      assert.equal((await patchImage(app, id, [{ op: 'replace', path, value }])).status, 403, path);
    }
    const image = await getImage(app, id);
    assert.equal(image.status, 'queued');
    assert.equal(image.size, null);
  });

  it('#30 /os_glance_x and the other reserved keys → 403', async function () {
    const id = await fresh();
    for (const path of ['/os_glance_x', '/os_glance_import_task', '/location', '/deleted', '/deleted_at']) {
      assert.equal((await patchImage(app, id, [{ op: 'add', path, value: 'v' }])).status, 403, path);
    }
  });

  it('#30 op test/move/copy → 400; path "name" (no slash) → 400; /tags/- → 400; missing value → 400', async function () {
    const id = await fresh();
    const cases: unknown[] = [
      [{ op: 'test', path: '/name', value: 'orig' }],
      [{ op: 'move', from: '/name', path: '/x' }],
      [{ op: 'copy', from: '/name', path: '/x' }],
      [{ path: '/name', value: 'x' }],
      [{ op: 'replace', path: 'name', value: 'x' }],
      [{ op: 'add', path: '/tags/-', value: 'x' }],
      [{ op: 'replace', path: '/a/b', value: 'x' }],
      [{ op: 'replace', path: '/name/', value: 'x' }],
      [{ op: 'replace', path: '//name', value: 'x' }],
      [{ op: 'replace', path: '/na~me', value: 'x' }],
      [{ op: 'replace', value: 'x' }],
      [{ op: 'replace', path: '/name' }],
      [{ op: 'add', path: '/foo' }],
      [{ op: 'replace', path: 5, value: 'x' }],
      { op: 'replace', path: '/name', value: 'x' },
      ['not an object'],
      [null],
    ];
    for (const ops of cases) {
      const res = await patchImage(app, id, ops);
      assert.equal(res.status, 400, `${JSON.stringify(ops)} → ${res.status}`);
    }
    assert.equal((await app.http.patch(`/v2/images/${id}`).set('Content-Type', PATCH_V21).send('[{bad json')).status, 400);
    assert.equal((await app.http.patch(`/v2/images/${id}`).set('Content-Type', PATCH_V21)).status, 400, 'missing body');
    assert.equal((await getImage(app, id)).name, 'orig');
  });

  it('#30 ~0 and ~1 escapes in pointers address keys containing ~ and /', async function () {
    const id = await fresh();
    const res = await patchImage(app, id, [
      { op: 'add', path: '/a~1b', value: 'slash' },
      { op: 'add', path: '/c~0d', value: 'tilde' },
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.body['a/b'], 'slash');
    assert.equal(res.body['c~d'], 'tilde');
  });

  it('#31 v2.0 form: {"add": "/name"} on an existing name → 409; {"replace": "/name"} → 200', async function () {
    const id = await fresh();
    assert.equal((await patchImage(app, id, [{ add: '/name', value: 'again' }], {}, PATCH_V20)).status, 409);
    const replaced = await patchImage(app, id, [{ replace: '/name', value: 'v20' }], {}, PATCH_V20);
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.name, 'v20');
    const added = await patchImage(app, id, [{ add: '/os_version', value: '22.04' }], {}, PATCH_V20);
    assert.equal(added.status, 200);
    assert.equal(added.body.os_version, '22.04');
    assert.equal((await patchImage(app, id, [{ add: '/os_version', value: '24.04' }], {}, PATCH_V20)).status, 409, 'v2.0 add on an existing custom key');
    assert.equal((await patchImage(app, id, [{ remove: '/os_version' }], {}, PATCH_V20)).status, 200);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'x' }], {}, PATCH_V20)).status, 400, 'v2.1 ops under the v2.0 type');
    assert.equal((await patchImage(app, id, [{ add: '/a', replace: '/b', value: 'x' }], {}, PATCH_V20)).status, 400, 'two ops in one object');
  });

  it('#32 PATCH disk_format/container_format on an active image → 403 (allowed while queued)', async function () {
    const queued = await fresh({ disk_format: 'raw', container_format: 'bare' });
    const ok = await patchImage(app, queued, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }]);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.disk_format, 'qcow2');
    const active = await activeImage(app, Buffer.from('abc'));
    const id = active.id as string;
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }])).status, 403);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/container_format', value: 'ovf' }])).status, 403);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/disk_format', value: 'raw' }])).status, 200, 'same value is no change');
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'still editable' }])).status, 200);
    assert.equal((await getImage(app, id)).disk_format, 'raw');
  });

  it('#32 custom value 5 (number) → 400; enum and type violations → 400', async function () {
    const id = await fresh();
    const cases: unknown[] = [
      [{ op: 'add', path: '/foo', value: 5 }],
      [{ op: 'add', path: '/foo', value: null }],
      [{ op: 'replace', path: '/visibility', value: 'everyone' }],
      [{ op: 'replace', path: '/min_ram', value: '512' }],
      [{ op: 'replace', path: '/min_ram', value: -1 }],
      [{ op: 'replace', path: '/min_disk', value: 2147483648 }],
      [{ op: 'replace', path: '/protected', value: 'true' }],
      [{ op: 'replace', path: '/disk_format', value: 'floppy' }],
      [{ op: 'replace', path: '/name', value: 'n'.repeat(256) }],
      [{ op: 'replace', path: '/tags', value: ['t'.repeat(256)] }],
      [{ op: 'replace', path: '/tags', value: 'a' }],
      [{ op: 'add', path: `/${'k'.repeat(256)}`, value: 'v' }],
      [{ op: 'add', path: '/kernel_id', value: 'not-a-uuid' }],
    ];
    for (const ops of cases) {
      const res = await patchImage(app, id, ops);
      assert.equal(res.status, 400, `${JSON.stringify(ops).slice(0, 80)} → ${res.status}`);
    }
  });

  it('#33 /locations operations with stock configuration → 403', async function () {
    const id = await fresh();
    const cases: unknown[] = [
      [{ op: 'add', path: '/locations/-', value: { url: 'http://example.com/x', metadata: {} } }],
      [{ op: 'replace', path: '/locations', value: [] }],
      [{ op: 'remove', path: '/locations/0' }],
    ];
    for (const ops of cases) {
      assert.equal((await patchImage(app, id, ops)).status, 403, JSON.stringify(ops));
    }
  });

  it('#34 a 4-byte UTF-8 character in a string → 400', async function () {
    const id = await fresh();
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'rocket 🚀' }])).status, 400);
    assert.equal((await patchImage(app, id, [{ op: 'add', path: '/description', value: '𝄞' }])).status, 400);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/tags', value: ['ok', '🚀'] }])).status, 400);
    const bmp = await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'naïve café ✓' }]);
    assert.equal(bmp.status, 200);
    assert.equal(bmp.body.name, 'naïve café ✓');
  });

  it('operations apply in order and nothing is saved unless all succeed', async function () {
    const id = await fresh();
    const failed = await patchImage(app, id, [
      { op: 'replace', path: '/name', value: 'half' },
      { op: 'add', path: '/os_distro', value: 'x' },
      { op: 'remove', path: '/missing' },
    ]);
    assert.equal(failed.status, 409);
    const after = await getImage(app, id);
    assert.equal(after.name, 'orig');
    assert.ok(!('os_distro' in after));
    const ok = await patchImage(app, id, [
      { op: 'add', path: '/k', value: '1' },
      { op: 'replace', path: '/k', value: '2' },
      { op: 'replace', path: '/min_ram', value: 1024 },
      { op: 'replace', path: '/protected', value: true },
      { op: 'replace', path: '/os_hidden', value: true },
      { op: 'replace', path: '/name', value: null },
    ]);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.k, '2');
    assert.equal(ok.body.min_ram, 1024);
    assert.equal(ok.body.protected, true);
    assert.equal(ok.body.os_hidden, true);
    assert.equal(ok.body.name, null);
  });

  it('custom keys named like object built-ins behave like any other key; __proto__ is refused with 400', async function () {
    const id = await fresh();
    assert.equal((await patchImage(app, id, [{ op: 'remove', path: '/constructor' }])).status, 409);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/toString', value: 'x' }])).status, 409);
    const added = await patchImage(app, id, [{ op: 'add', path: '/constructor', value: 'c' }]);
    assert.equal(added.status, 200);
    assert.equal(added.body.constructor, 'c');
    assert.equal((await patchImage(app, id, [{ op: 'remove', path: '/constructor' }])).status, 200);
    assert.ok(!Object.hasOwn(await getImage(app, id), 'constructor'));
    assert.equal((await patchImage(app, id, [{ op: 'add', path: '/__proto__', value: 'p' }])).status, 400);
    assert.equal((await app.http.post('/v2/images').set('Content-Type', 'application/json').send('{"__proto__": "p"}')).status, 400);
  });

  it('an empty array → 200 with the unchanged image', async function () {
    const id = await fresh();
    const before = await getImage(app, id);
    const res = await patchImage(app, id, []);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, before);
  });

  it('/tags replace (or add) replaces the whole set; duplicates collapse', async function () {
    const id = await fresh({ tags: ['old'] });
    let res = await patchImage(app, id, [{ op: 'replace', path: '/tags', value: ['x', 'y', 'x'] }]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.tags.sort(), ['x', 'y']);
    res = await patchImage(app, id, [{ op: 'add', path: '/tags', value: ['z'] }]);
    assert.deepEqual(res.body.tags, ['z']);
  });

  it('quotas on PATCH: properties (only when adding keys) and tags → 413', async function () {
    const limited = await startTestApp('[DEFAULT]\nimage_property_quota = 2\nimage_tag_quota = 2\n');
    try {
      const id = (await createImage(limited, { p1: 'a', p2: 'b' })).id as string;
      assert.equal((await patchImage(limited, id, [{ op: 'add', path: '/p3', value: 'c' }])).status, 413);
      assert.equal((await patchImage(limited, id, [{ op: 'replace', path: '/p1', value: 'changed' }])).status, 200, 'no new key');
      assert.equal((await patchImage(limited, id, [{ op: 'remove', path: '/p2' }, { op: 'add', path: '/p3', value: 'c' }])).status, 200);
      assert.equal((await patchImage(limited, id, [{ op: 'replace', path: '/tags', value: ['a', 'b', 'c'] }])).status, 413);
      assert.equal((await patchImage(limited, id, [{ op: 'replace', path: '/tags', value: ['a', 'b'] }])).status, 200);
    } finally {
      await limited.close();
    }
  });

  it('PATCH of a missing image → 404', async function () {
    assert.equal((await patchImage(app, '0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f', [{ op: 'replace', path: '/name', value: 'x' }])).status, 404);
  });

  describe('authorization (trusted-auth)', function () {
    let trusted: TestApp;
    before(async function () {
      trusted = await startTestApp(TRUSTED);
    });
    after(async function () {
      await trusted.close();
    });

    it('#32 visibility public by a non-admin owner → 403; by an admin → 200', async function () {
      const id = (await createImage(trusted, {}, as('projA'))).id as string;
      assert.equal((await patchImage(trusted, id, [{ op: 'replace', path: '/visibility', value: 'public' }], as('projA'))).status, 403);
      const admin = await patchImage(trusted, id, [{ op: 'replace', path: '/visibility', value: 'public' }], as('projX', 'admin'));
      assert.equal(admin.status, 200);
      assert.equal(admin.body.visibility, 'public');
      const keep = await patchImage(trusted, id, [{ op: 'replace', path: '/visibility', value: 'public' }, { op: 'replace', path: '/name', value: 'n' }], as('projA'));
      assert.equal(keep.status, 200, 'keeping an already public visibility is not publicizing');
    });

    it('#32 owner by a non-admin → 403 (even to its own project it already has → 200); admin → 200', async function () {
      const id = (await createImage(trusted, {}, as('projA'))).id as string;
      assert.equal((await patchImage(trusted, id, [{ op: 'replace', path: '/owner', value: 'projB' }], as('projA'))).status, 403);
      assert.equal((await patchImage(trusted, id, [{ op: 'replace', path: '/owner', value: 'projA' }], as('projA'))).status, 200);
      const moved = await patchImage(trusted, id, [{ op: 'replace', path: '/owner', value: 'projB' }], as('projX', 'admin'));
      assert.equal(moved.status, 200);
      assert.equal(moved.body.owner, 'projB');
    });
  });
});

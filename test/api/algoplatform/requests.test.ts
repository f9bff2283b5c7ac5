import assert from 'node:assert/strict';
import type { TestApp } from '../../support/app';
import { BASE, checkSpec, envelope, expectOutcome, forEachCatalog, minimal, post, recordOf, register, searchRecords, selfDeveloped, upload, type Json } from './support';

/**
 * Requests the platform's clients may send badly, and the edges of the wire format: the answer
 * is always the envelope (a 4xx only when the request cannot be read), never a 500.
 */
forEachCatalog('algoPlatform: unreadable requests, value coercion, _load download, _upload edges', (variant) => {
  let app: TestApp;
  before(async function () {
    app = await variant.start('[algoplatform]\nupload_size_cap = 4KB\n');
  });

  const problem = (res: Parameters<typeof envelope>[0], httpStatus: number) => {
    const body = envelope(res, httpStatus);
    assert.equal(body.status, '-1');
    assert.equal(body.res, null);
    return body.msg;
  };

  it('malformed JSON, a non-object body or invalid UTF-8 → 400 envelope', async function () {
    assert.equal(problem(await post(app, '_register', undefined, { raw: '{"imageName":' }), 400), 'Malformed JSON in request body.');
    assert.match(String(problem(await post(app, '_register', undefined, { raw: '[1,2]' }), 400)), /JSON object/);
    assert.match(String(problem(await post(app, '_search', undefined, { raw: '5' }), 400)), /JSON object/);
    assert.match(String(problem(await post(app, '_register', undefined, { raw: Buffer.from([0x7b, 0xff, 0x7d]), type: 'application/octet-stream' }), 400)), /UTF-8/);
  });

  it('values of the wrong type → 400 naming the field; numbers and booleans pass as text, numeric strings as integers', async function () {
    assert.equal(problem(await post(app, '_register', minimal({ imageName: { a: 1 } })), 400), 'imageName must be a string');
    assert.equal(problem(await post(app, '_register', minimal({ pvcSize: 'abc' })), 400), 'pvcSize must be an integer');
    assert.equal(problem(await post(app, '_register', minimal({ eventType: 1e12 })), 400), 'eventType is out of range');
    assert.equal(problem(await post(app, '_register', minimal({ tvChannel: [1] })), 400), 'tvChannel must be an integer');
    assert.equal(problem(await post(app, '_delete', { imageId: 'x', userResult: 'admin' }), 400), 'userResult must be a JSON object');
    assert.equal(problem(await post(app, '_delete', { imageId: 'x' }), 400), 'userResult is required');
    const coerced = minimal({ algoType: 1, pvcSize: ' 12 ', cpuRequests: 2.9, algoDesc: true });
    await register(app, coerced);
    const stored = await recordOf(app, coerced.imageName as string);
    assert.deepEqual([stored.algoType, stored.pvcSize, stored.cpuRequests, stored.algoDesc], ['1', 12, 2, 'true']);
    // unknown keys are ignored, as the platform's binding did
    await register(app, minimal({ somethingElse: { deep: true } }));
  });

  it('JSON bodies over 1 MiB → 413 envelope', async function () {
    const res = await post(app, '_register', minimal({ algoDesc: 'x'.repeat(1024 * 1024) }));
    assert.match(String(problem(res, 413)), /larger than/);
  });

  it('values longer than the catalog keeps → 504 image插入失败 / 505 image更新失败, nothing written', async function () {
    const body = minimal({ command: 'c'.repeat(16_001) });
    await expectOutcome(await post(app, '_register', body), '504', 'image插入失败');
    assert.deepEqual(await searchRecords(app, { searchCondition: body.imageName as string }), []);
    const ok = minimal();
    await register(app, ok);
    const id = (await recordOf(app, ok.imageName as string)).imageId;
    await expectOutcome(await post(app, '_update', { ...ok, imageId: id, args: 'a'.repeat(16_001) }), '505', 'image更新失败');
  });

  it('near-miss values for the path rules answer at once (no catastrophic backtracking)', async function () {
    const started = Date.now();
    await expectOutcome(await post(app, '_register', minimal({ imageMount: `/${'a'.repeat(60_000)}!` })), '215');
    await expectOutcome(await post(app, '_register', minimal({ config: `/${'a/'.repeat(30_000)}!` })), '209');
    await expectOutcome(await post(app, '_register', minimal({ subPath: `${'/a'.repeat(30_000)}!:/b` })), '210');
    await expectOutcome(await post(app, '_register', minimal({ imageName: `a${'-'.repeat(60_000)}` })), '221');
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('unknown operation 404, other methods 405 with Allow: POST, a trailing slash is accepted', async function () {
    const unknown = await app.http.post(`${BASE}/_drop`).send({});
    assert.deepEqual(envelope(unknown, 404).status, '-1');
    const get = await app.http.get(`${BASE}/_search`);
    checkSpec('get', `${BASE}/_search`, get);
    assert.equal(get.headers.allow, 'POST');
    assert.equal(envelope(get, 405).status, '-1');
    expectOutcome(await app.http.post(`${BASE}/_search/`).send({}), '0', '查询成功');
    // the Glance surface is still there, after this one
    assert.equal((await app.http.get('/v2/images')).status, 200);
  });

  it('_load?download answers image_list.json itself: the export object, which _upload takes back', async function () {
    await register(app, minimal({ imageName: 'algo/dl-base', eventType: 9001 }));
    await register(app, selfDeveloped({ imageName: 'algo/dl-app', dependencyServiceId: 'algo/dl-base:1.0' }));
    const res = await post(app, '_load', { searchCondition: 'algo/dl-' }, { query: 'download' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="image_list\.json"$/);
    const file = JSON.parse(res.text) as Record<string, Json>;
    assert.deepEqual(Object.values(file).map((r) => [r.imageName, r.dependencyServiceId]), [
      ['algo/dl-base', null],
      ['algo/dl-app', 'algo/dl-base:1.0'],
    ]);
    const fresh = await variant.start();
    expectOutcome(await upload(fresh, res.text), '0', '镜像导入成功');
    assert.equal((await recordOf(fresh, 'algo/dl-app')).dependencyServiceId, '9001');
  });

  it('_upload reads the file in file order, whatever its keys look like', async function () {
    // JSON.parse would put "1" before "2"; the file has the dependency ("2") first
    const text = `{"2": ${JSON.stringify(minimal({ imageName: 'algo/ord-base' }))}, "1": ${JSON.stringify(selfDeveloped({ imageName: 'algo/ord-app', dependencyServiceId: 'algo/ord-base:1.0' }))}}`;
    expectOutcome(await upload(app, text), '0', '镜像导入成功');
    await recordOf(app, 'algo/ord-app');
  });

  it('_upload: entries without name, tag or type, or not objects, are reported; the rest imported', async function () {
    const { imageName: _n, ...noName } = minimal();
    const { algoType: _t, ...noType } = minimal({ imageName: 'algo/up-notype' });
    const file = { a: noName, b: noType, c: 7, d: minimal({ imageName: 'algo/up-fine' }), e: minimal({ imageName: 'algo/up-bad', pvcSize: 'x' }) };
    const body = envelope(await upload(app, JSON.stringify(file)));
    assert.equal(body.status, '-1');
    assert.equal(
      body.msg,
      'null1.0:imageName is requiredalgo/up-notype1.0:algoType is requirednullnull:the entry is not a JSON objectalgo/up-bad1.0:pvcSize must be an integer',
    );
    await recordOf(app, 'algo/up-fine');
  });

  it('_upload: a raw JSON body is taken as the file; a file that is not a JSON object cannot be read', async function () {
    const raw = await post(app, '_upload', undefined, { raw: JSON.stringify({ x: minimal({ imageName: 'algo/raw-upload' }) }) });
    expectOutcome(raw, '0', '镜像导入成功');
    for (const file of ['[1]', 'not json', '', '\u0000']) {
      expectOutcome(await upload(app, file), '-1', '镜像导入异常，文件读取失败');
    }
    const broken = await app.http.post(`${BASE}/_upload`).set('Content-Type', 'multipart/form-data; boundary=zzz').send('--zzz\r\nContent-Disposition: form-data; name="file"\r\n\r\n{"a"');
    assert.deepEqual(envelope(broken), { status: '-1', res: null, msg: '镜像导入异常，文件读取失败' });
  });

  it('_upload: a file over upload_size_cap → 413 while streaming (chunked) or from Content-Length', async function () {
    const big = JSON.stringify({ x: minimal({ imageName: 'algo/too-big', algoDesc: 'y'.repeat(8 * 1024) }) });
    const multipart = await upload(app, big);
    assert.match(String(problem(multipart, 413)), /^镜像导入异常，文件读取失败: the file is larger than 4096 bytes$/);
    const raw = await post(app, '_upload', undefined, { raw: big });
    problem(raw, 413);
    assert.deepEqual(await searchRecords(app, { searchCondition: 'too-big' }), []);
    // the connection still serves the next request
    expectOutcome(await post(app, '_search', {}), '0');
  });

  it('no request ever gets a 500: every field with every kind of JSON value', async function () {
    const values: unknown[] = [null, '', ' ', 0, -1, 1.5, 2 ** 40, true, 'a:b', ',', ':', '0', [], {}, 'x'.repeat(300)];
    const fields = ['imageName', 'imageTag', 'imagePorts', 'imageMount', 'pvcSize', 'config', 'algoType', 'subPath', 'hostPath', 'workingDir', 'env', 'dependencyServiceId', 'eventType', 'frameInterval'];
    for (const field of fields) {
      for (const value of values) {
        for (const operation of ['_register', '_search', '_load'] as const) {
          const res = await post(app, operation, selfDeveloped({ [field]: value }));
          assert.ok(res.status < 500, `${operation} ${field}=${JSON.stringify(value)} → ${res.status} ${res.text}`);
        }
      }
    }
  });
});

import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../../support/app';
import { createImage, REQUEST_ID } from './support/harness';

const MISSING = '0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f';

describe('Glance v2: error bodies and request ids (§2)', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp();
  });
  after(async function () {
    await app.close();
  });

  it('#7 Accept: application/json → flat JSON {message, code: "404 Not Found", title: "Not Found"}', async function () {
    const res = await app.http.get(`/v2/images/${MISSING}`).set('Accept', 'application/json');
    assert.equal(res.status, 404);
    assert.equal(res.headers['content-type'], 'application/json');
    const body = JSON.parse(res.text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'title']);
    assert.equal(body.code, '404 Not Found');
    assert.equal(body.title, 'Not Found');
    assert.equal(typeof body.message, 'string');
    assert.match(body.message as string, new RegExp(MISSING));
  });

  it('#7 no Accept header → text/plain starting "404 Not Found"', async function () {
    const res = await app.http.get(`/v2/images/${MISSING}`).unset('Accept');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'], /^text\/plain; charset=UTF-8/i);
    assert.ok(res.text.startsWith('404 Not Found\n\n'), res.text);
  });

  it('#7 Accept: */* and text/html → text/html page with the code in <title> and <h1>', async function () {
    for (const accept of ['*/*', 'text/html']) {
      const res = await app.http.get(`/v2/images/${MISSING}`).set('Accept', accept);
      assert.equal(res.status, 404);
      assert.match(res.headers['content-type'], /^text\/html; charset=UTF-8/i, accept);
      assert.match(res.text, /<title>404 Not Found<\/title>/);
      assert.match(res.text, /<h1>404 Not Found<\/h1>/);
    }
  });

  it('#7 Accept that allows neither html nor json (application/octet-stream) → text/plain', async function () {
    const res = await app.http.get(`/v2/images/${MISSING}`).set('Accept', 'application/octet-stream');
    assert.match(res.headers['content-type'], /^text\/plain/);
  });

  it('#7 JSON is preferred over html when both are acceptable equally; q-values are honoured', async function () {
    const both = await app.http.get(`/v2/images/${MISSING}`).set('Accept', 'text/html, application/json');
    assert.equal(both.headers['content-type'], 'application/json');
    const htmlPreferred = await app.http.get(`/v2/images/${MISSING}`).set('Accept', 'application/json;q=0.5, text/html');
    assert.match(htmlPreferred.headers['content-type'], /^text\/html/);
  });

  it('other statuses carry their WebOb titles (400, 405, 409, 413, 415)', async function () {
    const json = { Accept: 'application/json' };
    const bad = await app.http.post('/v2/images').set(json).send({ min_ram: 'x' });
    assert.equal(bad.body.code, '400 Bad Request');
    const notAllowed = await app.http.put('/v2/images').set(json);
    assert.equal(notAllowed.body.code, '405 Method Not Allowed');
    const image = await createImage(app);
    const conflict = await app.http.post('/v2/images').set(json).send({ id: image.id });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.code, '409 Conflict');
    const unsupported = await app.http.patch(`/v2/images/${image.id as string}`).set(json).set('Content-Type', 'application/json').send('[]');
    assert.equal(unsupported.status, 415);
    assert.equal(unsupported.body.code, '415 Unsupported Media Type');
    const tooMany = await startTestApp('[DEFAULT]\nimage_tag_quota = 1\n');
    try {
      const res = await tooMany.http.post('/v2/images').set(json).send({ tags: ['a', 'b'] });
      assert.equal(res.status, 413);
      assert.equal(res.body.code, '413 Request Entity Too Large');
      assert.equal(res.body.title, 'Request Entity Too Large');
    } finally {
      await tooMany.close();
    }
  });

  it('x-openstack-request-id: req-<uuid4> on every /v2 response, success or error, always fresh in this flavour', async function () {
    const image = await createImage(app);
    const responses = [
      await app.http.get('/v2/images'),
      await app.http.get(`/v2/images/${image.id as string}`),
      await app.http.get(`/v2/images/${MISSING}`),
      await app.http.post('/v2/images').send('not json'),
      await app.http.put('/v2/images'),
      await app.http.get('/v2/nothing'),
      await app.http.delete(`/v2/images/${image.id as string}`),
      await app.http.get('/v2/images/%ff'),
      await app.http.get('/v2/schemas/image'),
    ];
    const ids = new Set<string>();
    for (const res of responses) {
      assert.match(res.headers['x-openstack-request-id'] ?? '', REQUEST_ID, `${res.status} ${res.text}`);
      ids.add(res.headers['x-openstack-request-id']);
    }
    assert.equal(ids.size, responses.length);
    const echoed = await app.http.get('/v2/images').set('X-OpenStack-Request-ID', 'abc');
    assert.match(echoed.headers['x-openstack-request-id'], REQUEST_ID);
  });

  it('malformed JSON, a JSON scalar, a missing body and invalid UTF-8 in a body → 400', async function () {
    assert.equal((await app.http.post('/v2/images').set('Content-Type', 'application/json').send('{"name": ')).status, 400);
    assert.equal((await app.http.post('/v2/images').set('Content-Type', 'application/json').send('"just a string"')).status, 400);
    assert.equal((await app.http.post('/v2/images').set('Content-Type', 'application/json').send('[]')).status, 400);
    assert.equal((await app.http.post('/v2/images')).status, 400);
    const invalidUtf8 = Buffer.concat([Buffer.from('{"name": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    assert.equal((await app.http.post('/v2/images').set('Content-Type', 'application/json').send(invalidUtf8)).status, 400);
  });

  it('a JSON body over 1 MiB → 413, answered on the same connection', async function () {
    const big = JSON.stringify({ name: 'x', description: 'd'.repeat(1024 * 1024) });
    const res = await app.http.post('/v2/images').set('Content-Type', 'application/json').set('Accept', 'application/json').send(big);
    assert.equal(res.status, 413);
    assert.equal(res.body.code, '413 Request Entity Too Large');
  });

  it('JSON bodies are accepted whatever their Content-Type says (§1.6)', async function () {
    const res = await app.http.post('/v2/images').set('Content-Type', 'text/plain').send('{"name": "typed-wrong"}');
    assert.equal(res.status, 201);
    assert.equal(res.body.name, 'typed-wrong');
  });
});

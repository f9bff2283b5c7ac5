import assert from 'node:assert/strict';
import type { TestApp } from '../../support/app';
import {
  envelope,
  expectOutcome,
  forEachCatalog,
  minimal,
  post,
  recordOf,
  register,
  searchRecords,
  selfDeveloped,
  spec,
  upload,
  type Json,
} from './support';

/** The conformance checklist of the algoPlatform spec (§9), item by item, then the decisions for glint. */
forEachCatalog('algoPlatform: conformance checklist', (variant) => {
  let app: TestApp;
  before(async function () {
    app = await variant.start();
    // #14's dependency, before any number is assigned
    await register(app, minimal({ imageName: 'algo/base', eventType: 7 }));
  });

  const REGISTER_OK = { status: '0', res: null, msg: '注册成功' };
  const expectRegister = async (body: Json, status: string) => expectOutcome(await post(app, '_register', body), status);

  it('#1 _register with a valid minimal body → 200 {"status":"0","res":null,"msg":"注册成功"}', async function () {
    const res = await post(app, '_register', minimal());
    assert.equal(res.status, 200);
    assert.equal(res.text, JSON.stringify(REGISTER_OK));
  });

  it('#2 _register without factory → HTTP 400 (envelope "factory is required", decision 4)', async function () {
    const { factory: _factory, ...body } = minimal();
    const answer = envelope(await post(app, '_register', body), 400);
    assert.deepEqual(answer, { status: '-1', res: null, msg: 'factory is required' });
  });

  it('#3 imageName "A" or "a" → "221"; "ab" passes rule 1', async function () {
    for (const imageName of ['A', 'a']) {
      const body = await expectRegister(minimal({ imageName }), '221');
      assert.equal(body.msg, '镜像名称格式：首尾字符为数字或小写字母，中间字符为数字或小写字母或特殊字符/.-_');
    }
    await expectRegister(minimal({ imageName: 'ab' }), '0');
  });

  it('#4 imageTag "v1.0-" → "222"; tag "1" passes', async function () {
    const body = await expectRegister(minimal({ imageTag: 'v1.0-' }), '222');
    assert.equal(body.msg, 'tag格式：首尾字符为数字或小写字母，中间字符为数字或小写字母或特殊字符.-_');
    await expectRegister(minimal({ imageTag: '1' }), '0');
  });

  it('#5 imagePorts "ssh:22,http:80" and "svc:5016:30016" pass; "ssh22" → "208"', async function () {
    await expectRegister(minimal({ imagePorts: 'ssh:22,http:80' }), '0');
    await expectRegister(minimal({ imagePorts: 'svc:5016:30016' }), '0');
    const body = await expectRegister(minimal({ imagePorts: 'ssh22' }), '208');
    assert.equal(body.msg, '端口格式：端口类型：端口号，端口类型：端口号,端口类型为a-z小写字母。例：ssh：22，jupyter：8888');
  });

  it('#6 imageMount "/data.x" → "215"; "/data-ym/vol_09" passes', async function () {
    const body = await expectRegister(minimal({ imageMount: '/data.x' }), '215');
    assert.equal(body.msg, '请输入合法的路径名称。例/data-ym/vol_09');
    await expectRegister(minimal({ imageMount: '/data-ym/vol_09' }), '0');
  });

  it('#7 pvcSize 0 or 21 → "231"; 20 and "" pass', async function () {
    for (const pvcSize of [0, 21]) {
      const body = await expectRegister(minimal({ pvcSize }), '231');
      assert.equal(body.msg, 'pvc申请容量范围为[1,20]');
    }
    const twenty = minimal({ pvcSize: 20 });
    await expectRegister(twenty, '0');
    assert.equal((await recordOf(app, twenty.imageName as string)).pvcSize, 20);
    const empty = minimal({ pvcSize: '' });
    await expectRegister(empty, '0');
    assert.equal((await recordOf(app, empty.imageName as string)).pvcSize, null);
  });

  it('#8 algoType "3" → "211"', async function () {
    const body = await expectRegister(minimal({ algoType: '3' }), '211');
    assert.equal(body.msg, '请输入合法的算法类型:0或1或2');
  });

  it('#9 env "NAME" → "217"; "CVSIP:172.38.90.52" passes', async function () {
    const body = await expectRegister(minimal({ env: 'NAME' }), '217');
    assert.equal(body.msg, '请输入合法环境变量，例如 NAME:ZHANGSAN9527');
    await expectRegister(minimal({ env: 'CVSIP:172.38.90.52' }), '0');
  });

  it('#10 algoType "0" without frameInterval → {"status":"502","msg":"frameInterval不能为空"}', async function () {
    const res = await post(app, '_register', minimal({ algoType: '0', frameNumber: 3 }));
    assert.equal(res.text, JSON.stringify({ status: '502', res: null, msg: 'frameInterval不能为空' }));
  });

  it('#11 algoType "0" with frameInterval and no frameNumber → "503"', async function () {
    await expectOutcome(await post(app, '_register', minimal({ algoType: '0', frameInterval: 3 })), '503', 'frameNumber不能为空');
  });

  it('#12 registering an existing live name+tag → {"status":"203","msg":"已存在此镜像"}', async function () {
    const body = minimal();
    await register(app, body);
    await expectOutcome(await post(app, '_register', { ...body, factory: 'other' }), '203', '已存在此镜像');
    await register(app, { ...body, imageTag: '2.0' });
  });

  it('#13 algoType "0" with dependency algo/missing:1.0 → "308" and the exact message', async function () {
    const res = await post(app, '_register', selfDeveloped({ dependencyServiceId: 'algo/missing:1.0' }));
    assert.equal(res.text, JSON.stringify({ status: '308', res: null, msg: '请检查依赖算法是否正确：镜像名:标签名,镜像名:标签名' }));
  });

  it('#14 a record depending on algo/base:1.0 (eventType 7) stores dependencyServiceId "7"', async function () {
    assert.equal((await recordOf(app, 'algo/base')).eventType, 7);
    const dependent = selfDeveloped({ dependencyServiceId: 'algo/base:1.0' });
    await register(app, dependent);
    assert.equal((await recordOf(app, dependent.imageName as string)).dependencyServiceId, '7');
  });

  it('#15 algoType "1" with a dependency stores dependencyServiceId null', async function () {
    const base = minimal();
    await register(app, base);
    const other = minimal({ dependencyServiceId: `${base.imageName}:1.0` });
    await register(app, other);
    assert.equal((await recordOf(app, other.imageName as string)).dependencyServiceId, null);
  });

  it('#16 new imageIds are 32 lower-case hex digits, one per record', async function () {
    const names = [minimal(), minimal()];
    for (const body of names) await register(app, body);
    const ids = await Promise.all(names.map(async (body) => (await recordOf(app, body.imageName as string)).imageId as string));
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
    assert.notEqual(ids[0], ids[1]);
  });

  it('#17 namespace "algo" returns only names starting with "algo" (case-sensitive)', async function () {
    for (const imageName of ['algo/ns17a', 'algox/ns17b', 'xalgo/ns17d', 'other/algo17']) await register(app, minimal({ imageName }));
    const names = (await searchRecords(app, { namespace: 'algo' })).map((r) => r.imageName as string);
    assert.ok(names.includes('algo/ns17a') && names.includes('algox/ns17b'));
    assert.ok(names.every((name) => name.startsWith('algo')), names.join(','));
    assert.ok(!names.includes('xalgo/ns17d') && !names.includes('other/algo17'));
    assert.deepEqual(await searchRecords(app, { namespace: 'ALGO' }), []);
    assert.deepEqual((await searchRecords(app, { namespace: 'algo/ns17' })).map((r) => r.imageName), ['algo/ns17a']);
  });

  it('#18 searchCondition "struct" returns the names containing "struct"', async function () {
    for (const imageName of ['algo/structure18', 'face/construct18', 'algo/plain18']) await register(app, minimal({ imageName }));
    const names = (await searchRecords(app, { searchCondition: 'struct' })).map((r) => r.imageName).sort();
    assert.deepEqual(names, ['algo/structure18', 'face/construct18']);
    assert.deepEqual(await searchRecords(app, { searchCondition: 'STRUCT' }), []);
    assert.deepEqual((await searchRecords(app, { namespace: 'face', searchCondition: 'struct' })).map((r) => r.imageName), ['face/construct18']);
  });

  it('#19 a search with no match → res {"data":"no such results"}, msg 查询成功', async function () {
    const res = await post(app, '_search', { searchCondition: 'nothing-is-called-this' });
    assert.equal(res.text, JSON.stringify({ status: '0', res: { data: 'no such results' }, msg: '查询成功' }));
  });

  it('#20 searches never show soft-deleted rows; each record has all 29 fields, nulls included', async function () {
    const kept = minimal({ imageName: 'algo/shown20' });
    const gone = minimal({ imageName: 'algo/shown20-gone' });
    await register(app, kept);
    await register(app, gone);
    const goneId = (await recordOf(app, 'algo/shown20-gone')).imageId;
    expectOutcome(await post(app, '_delete', { imageId: goneId, userResult: { authority: '1' } }), '0', '删除成功');
    const records = await searchRecords(app, { searchCondition: 'shown20' });
    assert.deepEqual(
      records.map((r) => r.imageName),
      ['algo/shown20'],
    );
    assert.deepEqual(Object.keys(records[0]), [
      'imageId', 'imageName', 'imageTag', 'imagePorts', 'imageMount', 'pvcSize', 'factory', 'algoName', 'algoDesc', 'deleteFlag',
      'tvChannel', 'pics', 'cpuRequests', 'gpuRequests', 'memRequests', 'config', 'algoType', 'eventType', 'subPath', 'hostPath',
      'workingDir', 'env', 'command', 'args', 'dependencyServiceId', 'frameInterval', 'frameNumber', 'incidentId', 'useableFlag',
    ]);
    assert.equal(records[0].deleteFlag, '0');
    assert.equal(records[0].algoDesc, null);
  });

  it('#21 _update of an unknown imageId → "204"; with a changed imageTag → "219"', async function () {
    const body = minimal();
    await register(app, body);
    const id = (await recordOf(app, body.imageName as string)).imageId;
    await expectOutcome(await post(app, '_update', { ...body, imageId: '0'.repeat(32) }), '204', '镜像不存在');
    await expectOutcome(await post(app, '_update', { ...body, imageId: id, imageTag: '9.9' }), '219', '不支持算法名称和标签更改');
  });

  it('#22 _update without algoDesc keeps it; pvcSize and eventType never change', async function () {
    const body = minimal({ algoDesc: 'original', pvcSize: 5, eventType: 2201 });
    await register(app, body);
    const id = (await recordOf(app, body.imageName as string)).imageId;
    const { algoDesc: _omitted, ...rest } = body;
    expectOutcome(await post(app, '_update', { ...rest, imageId: id, pvcSize: 9, eventType: 2299, factory: 'newer' }), '0');
    const after = await recordOf(app, body.imageName as string);
    assert.equal(after.algoDesc, 'original');
    assert.equal(after.pvcSize, 5);
    assert.equal(after.eventType, 2201);
    assert.equal(after.factory, 'newer');
  });

  it('#23 _update success → {"status":"0","res":null,"msg":"更新成功"}', async function () {
    const body = minimal();
    await register(app, body);
    const id = (await recordOf(app, body.imageName as string)).imageId;
    const res = await post(app, '_update', { ...body, imageId: id, algoDesc: 'changed', cpuRequests: 2 });
    assert.equal(res.text, JSON.stringify({ status: '0', res: null, msg: '更新成功' }));
    const after = await recordOf(app, body.imageName as string);
    assert.equal(after.algoDesc, 'changed');
    assert.equal(after.cpuRequests, 2);
  });

  it('#24 _delete of an image another live record depends on → "220"', async function () {
    const base = minimal();
    await register(app, base);
    await register(app, selfDeveloped({ dependencyServiceId: `${base.imageName}:1.0` }));
    const id = (await recordOf(app, base.imageName as string)).imageId;
    await expectOutcome(await post(app, '_delete', { imageId: id, userResult: { authority: '1' } }), '220', '无法删除被依赖镜像');
    await recordOf(app, base.imageName as string);
  });

  it('#25 authority "3" outside its namespace → "240"; authority "1" deletes', async function () {
    const body = minimal({ imageName: 'team-a/model25' });
    await register(app, body);
    const id = (await recordOf(app, 'team-a/model25')).imageId;
    await expectOutcome(await post(app, '_delete', { imageId: id, userResult: { authority: '3', namespace: 'team-b' } }), '240', '权限异常');
    await expectOutcome(await post(app, '_delete', { imageId: id, userResult: { authority: '1', namespace: 'team-b' } }), '0', '删除成功');
  });

  it('#26 _delete → 删除成功; again → "204"; the name+tag can be registered again', async function () {
    const body = minimal();
    await register(app, body);
    const first = await recordOf(app, body.imageName as string);
    const del = { imageId: first.imageId, userResult: { authority: 3, namespace: 'algo' } };
    await expectOutcome(await post(app, '_delete', del), '0', '删除成功');
    await expectOutcome(await post(app, '_delete', del), '204', '镜像不存在');
    await register(app, body);
    assert.notEqual((await recordOf(app, body.imageName as string)).imageId, first.imageId);
  });

  it('#27 _load: res keyed by imageId, dependencies as name:tag[,name:tag], msg 镜像下载成功', async function () {
    const a = minimal({ imageName: 'algo/load27-a' });
    const b = minimal({ imageName: 'algo/load27-b', imageTag: '2.1' });
    await register(app, a);
    await register(app, b);
    await register(app, selfDeveloped({ imageName: 'algo/load27-c', dependencyServiceId: 'algo/load27-a:1.0,algo/load27-b:2.1' }));
    const body = expectOutcome(await post(app, '_load', { searchCondition: 'load27' }), '0', '镜像下载成功');
    const res = body.res as Record<string, Json>;
    assert.deepEqual(Object.values(res).map((r) => r.imageName), ['algo/load27-a', 'algo/load27-b', 'algo/load27-c']);
    for (const [key, record] of Object.entries(res)) assert.equal(key, record.imageId);
    assert.equal(Object.values(res)[2].dependencyServiceId, 'algo/load27-a:1.0,algo/load27-b:2.1');
    assert.equal(Object.values(res)[0].dependencyServiceId, null);
  });

  it('#28 _upload of a _load export into an empty catalog → 镜像导入成功, all records back with new imageIds', async function () {
    await register(app, minimal({ imageName: 'algo/up28-base', eventType: 2801 }));
    await register(app, selfDeveloped({ imageName: 'algo/up28-app', dependencyServiceId: 'algo/up28-base:1.0' }));
    const exported = expectOutcome(await post(app, '_load', { searchCondition: 'up28' }), '0').res as Record<string, Json>;
    const empty = await variant.start();
    const res = await upload(empty, JSON.stringify(exported));
    assert.equal(res.text, JSON.stringify({ status: '0', res: null, msg: '镜像导入成功' }));
    const imported = await searchRecords(empty, { searchCondition: 'up28' });
    assert.deepEqual(imported.map((r) => r.imageName), ['algo/up28-app', 'algo/up28-base']);
    for (const record of imported) assert.ok(!(record.imageId as string in exported), 'a new imageId');
    const base = imported.find((r) => r.imageName === 'algo/up28-base') as Json;
    assert.equal(base.eventType, 2801);
    assert.equal(imported.find((r) => r.imageName === 'algo/up28-app')?.dependencyServiceId, '2801');
  });

  it('#29 _upload with two failing entries → "-1", the two <name><tag>:<msg> fragments concatenated; valid entries inserted', async function () {
    const file = {
      one: minimal({ imageName: 'algo/up29-ok', imageTag: '1.0' }),
      two: minimal({ imageName: 'algo/realtime', imageTag: '1.0', algoType: '0' }),
      three: selfDeveloped({ imageName: 'algo/nginx', imageTag: '1.7.9', dependencyServiceId: 'algo/nowhere:1.0' }),
    };
    const body = envelope(await upload(app, JSON.stringify(file)));
    assert.deepEqual(body, {
      status: '-1',
      res: null,
      msg: 'algo/realtime1.0:frameInterval不能为空algo/nginx1.7.9:请检查依赖算法是否正确：镜像名:标签名,镜像名:标签名',
    });
    await recordOf(app, 'algo/up29-ok');
    assert.deepEqual(await searchRecords(app, { searchCondition: 'algo/nginx' }), []);
  });

  it('#30 _upload without a file → {"status":"-1","msg":"镜像导入异常，文件读取失败"} (HTTP 200)', async function () {
    const res = await app.http.post('/algoPlatform/images/_upload').field('other', 'x');
    assert.equal(res.status, 200);
    assert.equal(res.text, JSON.stringify({ status: '-1', res: null, msg: '镜像导入异常，文件读取失败' }));
    const bare = await post(app, '_upload');
    assert.deepEqual(envelope(bare), { status: '-1', res: null, msg: '镜像导入异常，文件读取失败' });
  });

  it('#31 every envelope has exactly status, res, msg with status a JSON string', async function () {
    const body = minimal();
    const answers = [
      await post(app, '_register', body),
      await post(app, '_register', body),
      await post(app, '_register', { imageName: 'x' }),
      await post(app, '_search', {}),
      await post(app, '_update', { ...body, imageId: 'nope' }),
      await post(app, '_delete', { imageId: 'nope', userResult: { authority: '1' } }),
      await post(app, '_load', { searchCondition: 'zzz-none' }),
      await upload(app, '{}'),
      await post(app, '_register', undefined, { raw: '{"imageName":' }),
      await app.http.get('/algoPlatform/images/_search'),
      await app.http.post('/algoPlatform/images/_nothing').send({}),
    ];
    for (const res of answers) {
      const parsed = JSON.parse(res.text) as Json;
      assert.deepEqual(Object.keys(parsed), ['status', 'res', 'msg'], res.text);
      assert.equal(typeof parsed.status, 'string', res.text);
      assert.match(String(res.headers['content-type']), /^application\/json/);
    }
  });

  describe('decisions for glint', function () {
    it('D1 eventType > 0 kept; 0, null or missing → the next free number; a live one reused → "-1" "eventType <n> already exists"', async function () {
      const kept = minimal({ eventType: 4100 });
      await register(app, kept);
      assert.equal((await recordOf(app, kept.imageName as string)).eventType, 4100);
      const zero = minimal({ eventType: 0 });
      const none = minimal({ eventType: null });
      const missing = minimal();
      for (const body of [zero, none, missing]) await register(app, body);
      const assigned = await Promise.all([zero, none, missing].map(async (b) => (await recordOf(app, b.imageName as string)).eventType as number));
      assert.deepEqual(assigned, [4101, 4102, 4103]);
      const taken = await post(app, '_register', minimal({ eventType: 4100 }));
      assert.equal(taken.text, JSON.stringify({ status: '-1', res: null, msg: 'eventType 4100 already exists' }));
    });

    it('D2 a record nothing depends on can always be deleted (the eventType 0/null quirk is not reproduced)', async function () {
      const body = minimal({ eventType: 0 });
      await register(app, body);
      const id = (await recordOf(app, body.imageName as string)).imageId;
      await expectOutcome(await post(app, '_delete', { imageId: id, userResult: { authority: '1' } }), '0', '删除成功');
    });

    it('D3 looser upstream checks are kept: subPath parts like x1:y2 and name:tag:extra dependencies pass', async function () {
      await expectRegister(minimal({ subPath: 'x1:y2' }), '0');
      await expectRegister(minimal({ subPath: '/data-ym/vol.config:/data/vol.config' }), '0');
      const base = minimal();
      await register(app, base);
      await expectRegister(selfDeveloped({ dependencyServiceId: `${base.imageName}:1.0:extra` }), '0');
    });

    it('D4 a missing required field → HTTP 400 {"status":"-1","res":null,"msg":"<field> is required"}', async function () {
      for (const field of ['imageName', 'imageTag', 'factory', 'algoName', 'algoType']) {
        const body = minimal();
        delete body[field];
        assert.deepEqual(envelope(await post(app, '_register', body), 400), { status: '-1', res: null, msg: `${field} is required` });
      }
      assert.deepEqual(envelope(await post(app, '_update', minimal()), 400).msg, 'imageId is required');
      assert.deepEqual(envelope(await post(app, '_delete', {}), 400).msg, 'imageId is required');
      assert.deepEqual(envelope(await post(app, '_register', minimal({ factory: '' })), 400).msg, 'factory is required');
    });
  });
});

describe('algoPlatform: api-spec/algoplatform.yaml', function () {
  it('compiles, and every documented operation was answered and checked against it above', function () {
    assert.ok(spec.compileAllSchemas() >= 15);
    assert.deepEqual(spec.uncoveredOperations(), [], spec.coveredResponses().join('\n'));
  });
});

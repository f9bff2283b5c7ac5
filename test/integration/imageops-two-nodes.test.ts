import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { useMariaDbAndS3 } from '../support/crash';
import { childPids, freePort, type GlintProcess, startGlintProcess } from '../support/process';
import { s3StoreIniLines } from '../support/s3';
import { type ImageOpsImages, makeImageOpsImages } from '../api/imageops/support';

const BASE = '/api/v1/vmimage';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** GLINT_TEST_VERBOSE=1 prints what the takeover measured. */
const log = process.env.GLINT_TEST_VERBOSE ? (line: string) => console.log(`      ${line}`) : () => undefined;

/**
 * Issue 12's imageops on two real glint processes sharing only MariaDB and an S3 bucket: a job
 * started on one node is polled on the other, and a node SIGKILLed mid-compress leaves its job
 * to the other, which takes it over once the 2 s job lease runs out and finishes it: one output
 * image, the source untouched, nothing half-written left in the catalog.
 */
describe('imageops on two glint nodes (MariaDB + S3)', function () {
  this.timeout(180_000);
  const shared = useMariaDbAndS3('glint-imageops');
  let images: ImageOpsImages;
  let dir: string;
  const nodes: GlintProcess[] = [];

  before(() => {
    images = makeImageOpsImages();
    dir = mkdtempSync(path.join(tmpdir(), 'glint-imageops-nodes-'));
  });
  afterEach(async () => {
    for (const node of nodes.splice(0)) if (node.child.exitCode === null && node.child.signalCode === null) await node.stop();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function startNode(name: string, imageops: string[] = []): Promise<GlintProcess> {
    const port = await freePort();
    const { database, server, bucket } = shared;
    const conf = path.join(dir, `${name}.conf`);
    writeFileSync(
      conf,
      [
        '[DEFAULT]',
        `bind_port = ${port}`,
        'workers = 0',
        '[database]',
        `connection = ${database.config.url}`,
        '[glance_store]',
        'default_store = s3',
        ...s3StoreIniLines(server, bucket),
        '[glint]',
        'shutdown_timeout = 1',
        'job_lease_time = 2',
        '[imageops]',
        `temp_dir = ${path.join(dir, `${name}-tmp`)}`,
        'min_free_space_percent = 0',
        ...imageops,
        '',
      ].join('\n'),
    );
    const node = await startGlintProcess(['--config-file', conf], { cwd: dir, port });
    nodes.push(node);
    return node;
  }

  async function api(node: GlintProcess, method: string, route: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const init: RequestInit = { method };
    if (Buffer.isBuffer(body)) init.body = body;
    else if (body !== undefined) init.body = JSON.stringify(body);
    init.headers = { 'Content-Type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json' };
    const res = await fetch(`${node.url}${route}`, init);
    const text = await res.text();
    return { status: res.status, json: text && /json/.test(res.headers.get('content-type') ?? '') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
  }

  async function upload(node: GlintProcess, data: Buffer, name: string): Promise<string> {
    const created = await api(node, 'POST', '/v2/images', { name, disk_format: 'qcow2', container_format: 'bare' });
    assert.equal(created.status, 201);
    const id = created.json.id as string;
    assert.equal((await api(node, 'PUT', `/v2/images/${id}/file`, data)).status, 204);
    return id;
  }

  async function poll(node: GlintProcess, route: string, running: number, seconds: number): Promise<Array<Record<string, unknown>>> {
    const seen: Array<Record<string, unknown>> = [];
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const { status, json } = await api(node, 'GET', route);
      assert.equal(status, 200);
      seen.push(json);
      if (json.status !== running) return seen;
      if (Date.now() > deadline) throw new Error(`${route} still ${JSON.stringify(json)} after ${seconds} s`);
      await sleep(100);
    }
  }

  async function imagesNamed(node: GlintProcess, name: string): Promise<Array<Record<string, unknown>>> {
    return (await api(node, 'GET', `/v2/images?name=${encodeURIComponent(name)}`)).json.images as Array<Record<string, unknown>>;
  }

  it('a check and a compress started on one node are answered by the other', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const id = await upload(a, images.leaks, 'two-nodes-leaks');
    const check = await api(a, 'POST', `${BASE}/check`, { inputImageName: id });
    assert.equal(check.json.status, 0);
    const checked = await poll(b, `${BASE}/check/${check.json.requestId as string}`, 4, 30);
    const done = checked[checked.length - 1];
    assert.equal(done.status, 2);
    assert.equal((done.checkInfo as { checksum: string }).checksum, createHash('md5').update(images.leaks).digest('hex'));

    const compress = await api(b, 'POST', `${BASE}/compress`, { inputImageName: id, outputImageName: 'two-nodes-out' });
    assert.equal(compress.json.status, 0);
    const compressed = await poll(a, `${BASE}/compress/${compress.json.requestId as string}`, 1, 60);
    assert.deepEqual(compressed[compressed.length - 1], { status: 0, msg: 'Compress Completed', rate: 1 });
    const [onA] = await imagesNamed(a, 'two-nodes-out');
    const [onB] = await imagesNamed(b, 'two-nodes-out');
    assert.equal(onA.status, 'active');
    assert.deepEqual(onA, onB);
  });

  it('a node SIGKILLed mid-compress: the other takes the job over after the lease and finishes it cleanly', async () => {
    // node a converts slowly (2 MiB/s over 24 MiB of data), so the kill lands mid-conversion
    const a = await startNode('a', ['convert_rate_limit = 2MB']);
    const id = await upload(a, images.large, 'two-nodes-large');
    const started = await api(a, 'POST', `${BASE}/compress`, { inputImageName: id, outputImageName: 'two-nodes-resumed' });
    assert.equal(started.json.status, 0);
    const route = `${BASE}/compress/${started.json.requestId as string}`;
    for (let rate = 0; rate <= 0; ) {
      const { json } = await api(a, 'GET', route);
      assert.equal(json.status, 1, JSON.stringify(json));
      rate = json.rate as number;
      await sleep(100);
    }
    const b = await startNode('b');
    const { json: beforeKill } = await api(b, 'GET', route);
    assert.equal(beforeKill.status, 1, 'node b answers for the running job');
    // only the glint process: its qemu-img must not outlive it (it runs under setpriv --pdeathsig)
    const tools = childPids(a.child.pid as number);
    assert.ok(tools.length > 0, 'node a runs qemu-img');
    process.kill(a.child.pid as number, 'SIGKILL');
    await new Promise((resolve) => (a.child.exitCode !== null || a.child.signalCode !== null ? resolve(null) : a.child.once('exit', resolve)));
    await sleep(500);
    assert.deepEqual(tools.filter(isAlive), [], 'qemu-img outlived its glint process');

    const killedAt = Date.now();
    const seen = await poll(b, route, 1, 90);
    log(`resumed compress finished on node b ${Date.now() - killedAt} ms after the kill (lease 2 s, ${seen.length} polls)`);
    assert.deepEqual(seen[seen.length - 1], { status: 0, msg: 'Compress Completed', rate: 1 });
    const outputs = await imagesNamed(b, 'two-nodes-resumed');
    assert.equal(outputs.length, 1, JSON.stringify(outputs));
    assert.equal(outputs[0].status, 'active');
    assert.equal(outputs[0].disk_format, 'qcow2');
    const source = (await api(b, 'GET', `/v2/images/${id}`)).json;
    assert.equal(source.status, 'active');
    assert.equal(source.checksum, createHash('md5').update(images.large).digest('hex'));
    assert.deepEqual(readdirSync(path.join(dir, 'b-tmp')), [], 'node b left scratch behind');
  });
});

function isAlive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

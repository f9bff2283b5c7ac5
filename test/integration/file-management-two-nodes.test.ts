import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import knex, { type Knex } from 'knex';
import { useMariaDbAndS3 } from '../support/crash';
import { freePort, startGlintProcess, type GlintProcess } from '../support/process';
import { randomData } from '../support/random-data';
import { s3AdminClient, s3StoreIniLines } from '../support/s3';

const KiB = 1024;
const MiB = 1024 * KiB;
const BASE = '/image-management/v1';
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * Issue 12: two glint processes that share nothing but a MariaDB catalog and an S3 bucket. Chunks
 * go to both nodes in turn, the merge runs on the second, the download comes from the first; a
 * cancel on one node removes the chunks the other took.
 */
describe('EdgeGallery chunked upload across two glint nodes (MariaDB + S3)', function () {
  this.timeout(180_000);
  const shared = useMariaDbAndS3('glint-eg-nodes');
  let dir: string;
  let nodes: GlintProcess[] = [];
  let db: Knex;

  before(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'glint-eg-nodes-'));
    const { config } = shared.database;
    db = knex({ client: 'mysql2', connection: { host: config.host, port: config.port, user: config.user, password: config.password, database: config.database }, pool: { min: 0, max: 1 } });
    // one after the other: the first migrates the catalog
    for (const [name, workers] of [['a', 2], ['b', 0]] as const) {
      const port = await freePort();
      const conf = path.join(dir, `${name}.conf`);
      writeFileSync(conf, nodeConfig(port, workers));
      const node = await startGlintProcess(['--config-file', conf], { cwd: dir, port });
      nodes.push(node);
      await waitFor(() => node.output().includes('"glint listening"'), 30_000);
    }
  });

  after(async function () {
    await Promise.all(nodes.map((node) => node.stop()));
    nodes = [];
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  function nodeConfig(port: number, workers: number): string {
    const { server, bucket, database } = shared;
    return (
      `[DEFAULT]\nbind_port = ${port}\nworkers = ${workers}\n\n[database]\nconnection = ${database.config.url}\n\n` +
      `[glance_store]\ndefault_store = s3\n${s3StoreIniLines(server, bucket).join('\n')}\ns3_store_large_object_chunk_size = 5\n\n` +
      `[glint]\nshutdown_timeout = 1\n`
    );
  }

  async function postChunk(node: GlintProcess, identifier: string, index: number, data: Buffer): Promise<void> {
    const form = new FormData();
    form.append('identifier', identifier);
    form.append('priority', '0');
    form.append('part', new Blob([data]), `${index}.part`);
    const res = await fetch(`${node.url}${BASE}/images/upload`, { method: 'POST', body: form });
    assert.equal(res.status, 200, `chunk ${index} on ${node.url}: ${await res.text()}`);
  }

  /** Chunk objects in the bucket and chunk rows in the catalog. */
  async function staged(): Promise<{ objects: number; uploads: number; chunks: number }> {
    const client = s3AdminClient(shared.server);
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: shared.bucket, Prefix: 'chunks/' }));
      const count = async (table: string) => Number(((await db(table).count({ n: '*' })) as Array<{ n: number | string }>)[0].n);
      return { objects: listed.KeyCount ?? 0, uploads: await count('chunked_uploads'), chunks: await count('upload_chunks') };
    } finally {
      client.destroy();
    }
  }

  async function download(url: string): Promise<Buffer> {
    const res = await fetch(url);
    assert.equal(res.status, 200, url);
    return Buffer.from(await res.arrayBuffer());
  }

  it('chunks posted alternately to both nodes, merged on the second, downloaded from the first: the same bytes', async function () {
    const [a, b] = nodes;
    // below and above S3's 5 MiB part minimum, and a single byte
    const parts = [randomData(5 * MiB + 3), randomData(1), randomData(700 * KiB), randomData(6 * MiB), randomData(2 * MiB + 1), randomData(64 * KiB)];
    for (let i = 0; i < parts.length; i++) await postChunk(i % 2 === 0 ? a : b, 'two-nodes', i + 1, parts[i]);
    assert.deepEqual(await staged(), { objects: parts.length, uploads: 1, chunks: parts.length });

    const form = new FormData();
    for (const [name, value] of Object.entries({ identifier: 'two-nodes', filename: 'edge.img', userId: 'user-1', priority: '0' })) form.append(name, value);
    const merged = await fetch(`${b.url}${BASE}/images/merge`, { method: 'POST', body: form });
    const text = await merged.text();
    assert.equal(merged.status, 200, text);
    const { imageId, fileName } = JSON.parse(text) as { imageId: string; fileName: string };
    assert.equal(fileName, 'edge.img');

    const whole = Buffer.concat(parts);
    assert.equal(sha256(await download(`${a.url}${BASE}/images/${imageId}/action/download`)), sha256(whole));
    assert.equal(sha256(await download(`${a.url}/v2/images/${imageId}/file`)), sha256(whole), 'the same image through Glance');
    const record = (await (await fetch(`${a.url}${BASE}/images/${imageId}`)).json()) as { fileName: string; userId: string };
    assert.deepEqual([record.fileName, record.userId], ['edge.img', 'user-1']);
    assert.deepEqual(await staged(), { objects: 0, uploads: 0, chunks: 0 }, 'the chunks are gone from the bucket and the catalog');
  });

  it('a cancel on one node removes the chunks the other node took', async function () {
    const [a, b] = nodes;
    for (let i = 1; i <= 4; i++) await postChunk(i % 2 === 0 ? a : b, 'two-nodes-cancel', i, randomData(256 * KiB));
    assert.deepEqual(await staged(), { objects: 4, uploads: 1, chunks: 4 });
    const cancel = await fetch(`${a.url}${BASE}/images/upload?identifier=two-nodes-cancel`, { method: 'DELETE' });
    assert.equal(cancel.status, 200);
    assert.equal(await cancel.text(), 'cancel success');
    assert.deepEqual(await staged(), { objects: 0, uploads: 0, chunks: 0 });
    const form = new FormData();
    form.append('identifier', 'two-nodes-cancel');
    form.append('filename', 'edge.img');
    const merged = await fetch(`${b.url}${BASE}/images/merge`, { method: 'POST', body: form });
    assert.equal(merged.status, 404);
    assert.equal(await merged.text(), '"fail to find the file path"');
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the node to listen');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

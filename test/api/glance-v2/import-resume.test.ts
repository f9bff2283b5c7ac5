import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startTestApp, type TestApp } from '../../support/app';
import { bytes, createImage, md5, waitForImage } from './support/harness';

/**
 * Two glint nodes on one catalog and one store: an import interrupted by a node's shutdown is
 * handed back and finished by the other node, with one location and the right checksum.
 */
describe('Glance v2: import tasks survive a node stopping', function () {
  this.timeout(60_000);
  let shared: string;
  let origin: Server;
  let port: number;
  const data = bytes(200_000);
  const stalled: ServerResponse[] = [];
  let stallFirstRequest = true;

  before(async () => {
    shared = mkdtempSync(path.join(tmpdir(), 'glint-nodes-'));
    origin = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
      if (stallFirstRequest) {
        stallFirstRequest = false;
        res.write(data.subarray(0, 1000));
        stalled.push(res);
        return;
      }
      res.end(data);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    port = (origin.address() as AddressInfo).port;
  });
  after(async () => {
    origin.closeAllConnections();
    await new Promise<void>((resolve) => origin.close(() => resolve()));
    rmSync(shared, { recursive: true, force: true });
  });

  const startNode = () =>
    startTestApp(
      `[glance_store]\nfilesystem_store_datadir = ${shared}/images\n[import_filtering_opts]\nallowed_hosts = 127.0.0.1\nallowed_ports = ${port}\n`,
      { GLINT_DATABASE_CONNECTION: `sqlite:///${shared}/glint.db` },
    );

  it('a web-download interrupted on node A is resumed by node B', async () => {
    const nodeA: TestApp = await startNode();
    let nodeB: TestApp | null = null;
    try {
      const id = (await createImage(nodeA)).id as string;
      const started = await nodeA.http.post(`/v2/images/${id}/import`).send({ method: { name: 'web-download', uri: `http://127.0.0.1:${port}/image` } });
      assert.equal(started.status, 202, started.text);
      await waitForImage(nodeA, id, (i) => i.status === 'importing');
      while (stalled.length === 0) await new Promise((r) => setTimeout(r, 20));

      await nodeA.app.close();

      nodeB = await startNode();
      const image = await waitForImage(nodeB, id, (i) => i.status === 'active', { timeoutMs: 20_000 });
      assert.equal(image.size, data.length);
      assert.equal(image.checksum, md5(data));
      assert.equal(image.os_glance_import_task, undefined, 'the import lock is released');
      const locations = (await nodeB.app.catalog.images.get(id))?.locations ?? [];
      assert.equal(locations.length, 1, 'exactly one location after the resumed import');
      const file = await nodeB.http.get(`/v2/images/${id}/file`).buffer(true).parse((res, cb) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => cb(null, Buffer.concat(chunks)));
      });
      assert.ok((file.body as Buffer).equals(data));
    } finally {
      for (const res of stalled) res.destroy();
      await nodeB?.close();
      rmSync(nodeA.dir, { recursive: true, force: true });
    }
  });
});

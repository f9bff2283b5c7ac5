import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { loadConfig } from '../../../src/config/load';
import { S3Store } from '../../../src/stores/s3';
import { s3StoreConfig, startS3Server, type S3TestServer } from '../../support/s3';

const MiB = 1024 * 1024;

/**
 * Memory under load depends on the part queue: an S3 upload holds at most `s3_store_thread_pools`
 * parts in flight (+ the one being filled). A proxy in front of s3rver holds each UploadPart a
 * moment and counts how many are in flight at once. (The 20 × 1 GiB figure is test/soak/s3-memory.soak.ts.)
 */
describe('S3 store: the part queue (s3_store_thread_pools) bounds the parts in flight', function () {
  let s3: S3TestServer;
  let proxy: Server;
  let endpoint: string;
  let inFlight = 0;
  let peak = 0;
  before(async function () {
    s3 = await startS3Server();
    const target = new URL(s3.endpoint);
    proxy = createServer((req, res) => {
      const isPart = req.method === 'PUT' && /[?&]partNumber=/.test(req.url ?? '');
      if (isPart) peak = Math.max(peak, ++inFlight);
      const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upstream) => {
        const finish = () => {
          if (isPart) inFlight -= 1;
          res.writeHead(upstream.statusCode ?? 502, upstream.headers);
          upstream.pipe(res);
        };
        // hold parts long enough for the next ones to pile up if the queue allowed them
        if (isPart) setTimeout(finish, 150);
        else finish();
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async function () {
    proxy?.closeAllConnections();
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await s3?.stop();
  });

  it('the default is a small queue (2 parts), read from s3_store_thread_pools', function () {
    const config = loadConfig({ env: { GLINT_GLANCE_STORE_DEFAULT_STORE: 's3', GLINT_GLANCE_STORE_S3_STORE_HOST: 'http://127.0.0.1:9', GLINT_DATABASE_CONNECTION: 'sqlite://' }, warn: () => {} });
    const store = config.stores.stores[0];
    assert.equal(store.type, 's3');
    assert.equal(store.type === 's3' && store.concurrency, 2);
    const set = loadConfig({ env: { GLINT_GLANCE_STORE_DEFAULT_STORE: 's3', GLINT_GLANCE_STORE_S3_STORE_HOST: 'http://127.0.0.1:9', GLINT_GLANCE_STORE_S3_STORE_THREAD_POOLS: '3', GLINT_DATABASE_CONNECTION: 'sqlite://' }, warn: () => {} });
    assert.equal(set.stores.stores[0].type === 's3' && set.stores.stores[0].concurrency, 3);
  });

  for (const queue of [1, 2]) {
    it(`a 40 MiB upload with s3_store_thread_pools = ${queue} never has more than ${queue} part(s) in flight`, async function () {
      this.timeout(60_000);
      inFlight = 0;
      peak = 0;
      const store = new S3Store(s3StoreConfig({ ...s3, endpoint }, `queue-${queue}`, { partSize: 5 * MiB, concurrency: queue }));
      try {
        const data = Buffer.alloc(40 * MiB, 7);
        const result = await store.put('object', Readable.from([data.subarray(0, 20 * MiB), data.subarray(20 * MiB)]));
        assert.equal(result.size, data.length);
        assert.equal(peak, queue, `peak parts in flight ${peak}`);
      } finally {
        await store.delete('object').catch(() => undefined);
        await store.close();
      }
    });
  }
});

import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { isStoreError } from '../../src/stores/blob-store';
import { S3Store } from '../../src/stores/s3';
import { RGW_START_TIMEOUT_MS, sharedRgw } from '../support/rgw';
import { deleteBucket, s3AdminClient, s3StoreConfig, startS3Server, type S3TestServer } from '../support/s3';
import { blobStoreContract, CONTRACT_PART_SIZE } from './blob-store.suite';

const MiB = 1024 * 1024;

/** In-progress multipart uploads in `bucket`; none when the bucket does not exist. */
async function pendingUploads(client: S3Client, bucket: string): Promise<string[]> {
  try {
    const listing = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (listing.Uploads ?? []).map((upload) => `multipart upload ${upload.Key} (${upload.UploadId})`);
  } catch (err) {
    if (err instanceof Error && err.name === 'NoSuchBucket') return [];
    throw err;
  }
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/**
 * The contract and the S3 specifics run on two servers: s3rver (a fake, patched in test/support/s3.ts
 * where it lacks S3 behaviour) and Ceph RADOS Gateway (test/support/rgw.ts, a real S3 server as
 * production runs on: 5 MiB minimum parts, BucketNotEmpty, error codes without messages).
 */
const servers: Array<{ name: string; start(): Promise<S3TestServer>; startTimeout: number }> = [
  { name: 's3rver', start: startS3Server, startTimeout: 30_000 },
  // started once per mocha process, shared with the API tests, stopped by the global teardown
  { name: 'Ceph RGW', start: sharedRgw, startTimeout: RGW_START_TIMEOUT_MS },
];

for (const { name, start, startTimeout } of servers) {
  describe(`S3Store (${name})`, function () {
    let server: S3TestServer;
    let admin: S3Client;
    let buckets = 0;
    const nextBucket = (): string => `glint-test-${++buckets}-${randomBytes(3).toString('hex')}`;

    before(async function () {
      this.timeout(startTimeout);
      server = await start();
      admin = s3AdminClient(server);
    });

    after(async function () {
      admin?.destroy();
      await server?.stop();
    });

    blobStoreContract(async () => {
      const bucket = nextBucket();
      return {
        store: new S3Store(s3StoreConfig(server, bucket, { partSize: CONTRACT_PART_SIZE })),
        leftovers: () => pendingUploads(admin, bucket),
        cleanup: () => deleteBucket(admin, bucket),
      };
    });

    describe('S3 specifics', function () {
      const stores: S3Store[] = [];
      const track = (store: S3Store): S3Store => {
        stores.push(store);
        return store;
      };

      afterEach(async function () {
        await Promise.all(stores.splice(0).map((store) => store.close()));
      });

      it('the leftover check sees an in-progress multipart upload', async function () {
        const bucket = nextBucket();
        const store = track(new S3Store(s3StoreConfig(server, bucket)));
        await store.put('seed', Readable.from([Buffer.from('x')]));
        const { UploadId } = await admin.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'dangling' }));
        assert.deepEqual(await pendingUploads(admin, bucket), [`multipart upload dangling (${UploadId})`]);
        await admin.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'dangling', UploadId }));
        assert.deepEqual(await pendingUploads(admin, bucket), []);
        await store.delete('seed');
      });

      it('creates the bucket once when first puts race', async function () {
        const bucket = nextBucket();
        const racers = [1, 2, 3, 4].map(() => track(new S3Store(s3StoreConfig(server, bucket))));
        await Promise.all(racers.map((store, i) => store.put(`racer-${i}`, Readable.from([Buffer.from(String(i))]))));
        const keys: string[] = [];
        for await (const key of racers[0].list()) keys.push(key);
        assert.deepEqual(keys.sort(), ['racer-0', 'racer-1', 'racer-2', 'racer-3']);
        await Promise.all(keys.map((key) => racers[0].delete(key)));
      });

      it('fails a put with unavailable when the bucket is missing and createBucketOnPut is off', async function () {
        const store = track(new S3Store(s3StoreConfig(server, nextBucket(), { createBucketOnPut: false })));
        await assert.rejects(store.put('k', Readable.from([Buffer.from('x')])), (err) => isStoreError(err, 'unavailable'));
        await assert.rejects(store.put('k', Readable.from([randomBytes(6 * MiB)])), (err) => isStoreError(err, 'unavailable'));
      });

      it('maps rejected credentials to write_denied on put', async function () {
        const bucket = nextBucket();
        const good = track(new S3Store(s3StoreConfig(server, bucket)));
        await good.put('exists', Readable.from([Buffer.from('x')]));
        const bad = track(new S3Store(s3StoreConfig(server, bucket, { accessKey: 'UNKNOWN', createBucketOnPut: false })));
        await assert.rejects(bad.put('k', Readable.from([Buffer.from('x')])), (err) => isStoreError(err, 'write_denied'));
        await assert.rejects(bad.put('k', Readable.from([randomBytes(6 * MiB)])), (err) => isStoreError(err, 'write_denied'));
        await good.delete('exists');
        assert.deepEqual(await pendingUploads(admin, bucket), []);
      });

      it('maps an unreachable endpoint to unavailable', async function () {
        const port = await closedPort();
        const store = track(new S3Store(s3StoreConfig(server, nextBucket(), { endpoint: `http://127.0.0.1:${port}` })));
        await assert.rejects(store.put('k', Readable.from([Buffer.from('x')])), (err) => isStoreError(err, 'unavailable'));
        await assert.rejects(store.get('k'), (err) => isStoreError(err, 'unavailable'));
        await assert.rejects(store.stat('k'), (err) => isStoreError(err, 'unavailable'));
      });

      it("stores and reads with the SDK's default checksums (s3_store_checksum_mode = when_supported)", async function () {
        const store = track(new S3Store(s3StoreConfig(server, nextBucket(), { checksumMode: 'when_supported' })));
        for (const data of [randomBytes(1000), randomBytes(6 * MiB)]) {
          await store.put('checksummed', Readable.from([data]));
          const chunks: Buffer[] = [];
          for await (const chunk of (await store.get('checksummed')).body) chunks.push(chunk as Buffer);
          assert.ok(Buffer.concat(chunks).equals(data), `${data.length} bytes differ`);
        }
        await store.delete('checksummed');
      });

      it('refuses a part size below the S3 minimum', function () {
        assert.throws(() => new S3Store(s3StoreConfig(server, 'any', { partSize: MiB })), (err) => isStoreError(err, 'unavailable'));
      });

      it('describes itself: endpoint, bucket, sizes in bytes and parts in flight (Glance shows them in /v2/info/stores/detail)', function () {
        const store = track(new S3Store(s3StoreConfig(server, 'any', { largeObjectSize: 100 * MiB, partSize: 10 * MiB, concurrency: 10 })));
        assert.deepEqual(store.details(), {
          type: 's3',
          endpoint: server.endpoint,
          bucket: 'any',
          largeObjectSize: 100 * MiB,
          partSize: 10 * MiB,
          concurrency: 10,
        });
        assert.equal(store.type, 's3');
      });
    });
  });
}

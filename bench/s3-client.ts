/**
 * The direct S3 reference: one upload (lib-storage Upload, the same part size and queue size glint
 * uses by default) or one download (GetObject streamed into a discarding sink) of a file, or a delete, in its own
 * process. Prints `S3CLIENT {"bytes":…,"seconds":…}`.
 *
 *   node --require tsx/cjs bench/s3-client.ts put|get|delete <endpoint> <bucket> <key> [file] [partMiB] [queue]
 */
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream, statSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

async function main(): Promise<void> {
  const [op, endpoint, bucket, key, file, partMiB = '10', queue = '10'] = process.argv.slice(2);
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  let bytes = 0;
  let started: bigint;
  if (op === 'put') {
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: unknown) => {
      const name = (err as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
    });
    bytes = statSync(file).size;
    started = process.hrtime.bigint();
    const upload = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: createReadStream(file, { highWaterMark: 1 << 20 }), ContentType: 'application/octet-stream' },
      partSize: Number(partMiB) * 1024 * 1024,
      queueSize: Number(queue),
    });
    await upload.done();
  } else if (op === 'get') {
    started = process.hrtime.bigint();
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await pipeline(
      response.Body as Readable,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          bytes += chunk.length;
          callback();
        },
      }),
    );
  } else if (op === 'delete') {
    started = process.hrtime.bigint();
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  } else {
    throw new Error(`unknown operation ${op}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.destroy();
  process.stdout.write(`S3CLIENT ${JSON.stringify({ bytes, seconds })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

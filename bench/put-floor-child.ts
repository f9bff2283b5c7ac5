/**
 * The ceiling Glance's hashing contract puts on an upload served by node: a bare node:http server
 * (no Koa, no catalog, no store) that passes every request body through glint's two hash threads
 * (md5 and sha512, src/lib/threaded-hasher) and drops the bytes. It answers 204, or 422 when a
 * non-empty body's md5 is not the one given as its second argument (so a floor that did not hash
 * what it was sent gives no figure). One process: one upload is served by one process in glint
 * too. Listens on the port given as its first argument; stops on SIGTERM.
 * Started by bench/references.ts with `node --require tsx/cjs`.
 */
import { createServer } from 'node:http';
import { createThreadedContentHasher } from '../src/lib/threaded-hasher';

const port = Number(process.argv[2]);
const expectedMd5 = process.argv[3];

const server = createServer((req, res) => {
  const hasher = createThreadedContentHasher();
  const fail = (err: unknown) => {
    hasher.destroy();
    res.statusCode = 500;
    res.end(String(err));
  };
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    const pending = hasher.update(chunk);
    if (pending) {
      req.pause();
      pending.then(() => req.resume(), fail);
    }
  });
  req.on('error', () => hasher.destroy());
  req.on('end', () => {
    hasher.digest().then((digests) => {
      res.statusCode = bytes > 0 && expectedMd5 && digests.md5 !== expectedMd5 ? 422 : 204;
      res.end();
    }, fail);
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`PUT-FLOOR listening on ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

import { strict as assert } from 'node:assert';
import { Readable } from 'node:stream';
import { readStreamedForm } from '../../../src/http/surfaces/file-management/multipart';
import { multipartBody } from './chunk-support';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The streamed multipart reader, with the body cut into pieces of every size (delimiters split across reads). */
describe('EdgeGallery multipart reader: file part streamed, fields before and after it', function () {
  // data full of near-delimiters: CRLF, dashes and the boundary's own prefix
  const data = Buffer.concat([Buffer.from('\r\n--glint-chunk-test\r\n--'), Buffer.alloc(70_000, 0x2d), Buffer.from('\r\n-'), Buffer.alloc(3000, 7)]);
  const { body, contentType } = multipartBody([
    { name: 'userId', value: 'u-1' },
    { name: 'file', value: data, fileName: 'a.qcow2' },
    { name: 'priority', value: '0' },
  ]);
  const boundary = /boundary=(.+)$/.exec(contentType)?.[1] as string;

  for (const size of [1, 2, 7, 31, 4096, 65_536, body.length]) {
    it(`pieces of ${size} bytes`, async () => {
      const pieces: Buffer[] = [];
      for (let at = 0; at < body.length; at += size) pieces.push(body.subarray(at, at + size));
      const form = await readStreamedForm(Readable.from(pieces), boundary, 'file');
      assert.deepEqual([...form.fields], [['userId', 'u-1']]);
      assert.equal(form.file?.fileName, 'a.qcow2');
      const bytes = await readAll(form.file!.stream);
      assert.ok(bytes.equals(data), `file differs (${bytes.length} vs ${data.length})`);
      assert.deepEqual([...(await form.complete)], [['userId', 'u-1'], ['priority', '0']]);
    });
  }

  it('a body cut short inside the file part fails the file stream; one without a file part has none', async () => {
    const cut = await readStreamedForm(Readable.from([body.subarray(0, body.length - 200)]), boundary, 'file');
    await assert.rejects(readAll(cut.file!.stream));
    const none = await readStreamedForm(Readable.from([multipartBody([{ name: 'userId', value: 'x' }]).body]), boundary, 'file');
    assert.equal(none.file, null);
    assert.deepEqual([...none.fields], [['userId', 'x']]);
  });
});

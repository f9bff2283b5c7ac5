import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isGlintError } from '../../../src/domain/errors';
import {
  DEFAULT_DISK_FORMAT_POLICY,
  detectFormat,
  diskImageCheck,
  type DiskFormatPolicy,
  INSPECTION_HEAD_BYTES,
  inspectVirtualSize,
  judgeHead,
} from '../../../src/domain/disk-formats';
import { HeadCapture } from '../../../src/lib/head-capture';
import { makeDiskImages, VIRTUAL, type DiskImages } from '../../support/disk-images';

const head = (data: Buffer) => data.subarray(0, INSPECTION_HEAD_BYTES);
const refused = (detail: RegExp | string) => (err: unknown) =>
  isGlintError(err, 'IMAGE_DATA_INVALID') && (typeof detail === 'string' ? `${err.message} ${err.detail ?? ''}`.includes(detail) : detail.test(`${err.message} ${err.detail ?? ''}`));

/** Streams `data` in `chunk`-byte pieces through a HeadCapture running the check; resolves with what came out. */
async function streamThrough(data: Buffer, diskFormat: string, policy: DiskFormatPolicy = DEFAULT_DISK_FORMAT_POLICY, chunk = 4096): Promise<Buffer> {
  const check = diskImageCheck(diskFormat, 'bare', policy);
  assert.ok(check);
  const out: Buffer[] = [];
  const pieces = function* () {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  };
  await pipeline(Readable.from(pieces()), new HeadCapture(check.headBytes, check), new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

/** A streamOptimized VMDK whose grain directory is "at the end", with the footer that then follows. */
function withFooter(stream: Buffer, tamper: (footer: Buffer) => void = () => {}): Buffer {
  const header = Buffer.from(stream.subarray(0, 512));
  const image = Buffer.from(stream);
  image.writeBigUInt64LE(0xffffffffffffffffn, 56);
  const marker = Buffer.alloc(512);
  marker.writeBigUInt64LE(1n, 0);
  marker.writeUInt32LE(3, 12);
  const footer = Buffer.from(header);
  tamper(footer);
  return Buffer.concat([image, marker, footer, Buffer.alloc(512)]);
}

describe('disk formats: detection, safety checks and disk_format match (Glance format inspector)', function () {
  let images: DiskImages;
  before(function () {
    this.timeout(30_000);
    images = makeDiskImages();
  });

  it('detects each format qemu-img writes, and reads its virtual size', function () {
    const expected: Array<[keyof DiskImages['good'], string, number | null]> = [
      ['qcow2', 'qcow2', VIRTUAL],
      ['vmdk', 'vmdk', VIRTUAL],
      ['vmdkStream', 'vmdk', VIRTUAL],
      ['vhd', 'vhd', 10514432], // qemu rounds a VHD up to its CHS geometry
      ['vhdx', 'vhdx', null], // its size sits past the inspected head
      ['vdi', 'vdi', VIRTUAL],
      ['iso', 'iso', 20 * 2048],
      ['gpt', 'gpt', images.good.gpt.length],
      ['raw', 'raw', images.good.raw.length],
    ];
    for (const [name, format, virtual] of expected) {
      const data = images.good[name];
      assert.equal(detectFormat(head(data)).format, format, name);
      assert.equal(judgeHead(format, head(data), DEFAULT_DISK_FORMAT_POLICY).format, format, name);
      assert.equal(inspectVirtualSize(format, head(data), data.length), virtual, name);
    }
  });

  it('refuses a qcow2 with a backing file, or with an external data file, whatever disk_format says', function () {
    for (const declared of ['qcow2', 'raw']) {
      assert.throws(() => judgeHead(declared, head(images.qcow2BackingFile), DEFAULT_DISK_FORMAT_POLICY), refused('backing file'));
      assert.throws(() => judgeHead(declared, head(images.qcow2DataFile), DEFAULT_DISK_FORMAT_POLICY), refused('data_file'));
    }
    const lax = { ...DEFAULT_DISK_FORMAT_POLICY, requireFormatMatch: false };
    assert.throws(() => judgeHead('vmdk', head(images.qcow2BackingFile), lax), refused('backing file'), 'a mismatch let through is still checked');
  });

  it('refuses qcow2 version 1 and unknown incompatible features', function () {
    const v1 = Buffer.from(head(images.good.qcow2));
    v1.writeUInt32BE(1, 4);
    assert.throws(() => judgeHead('qcow2', v1, DEFAULT_DISK_FORMAT_POLICY), refused('Unsupported qcow2 version'));
    const extendedL2 = Buffer.from(head(images.good.qcow2));
    extendedL2.writeBigUInt64BE(1n << 4n, 72);
    assert.throws(() => judgeHead('qcow2', extendedL2, DEFAULT_DISK_FORMAT_POLICY), refused('Unknown QCOW2 features'));
  });

  it('refuses VMDK descriptor files (monolithicFlat, extents outside the image) and extents with a path', function () {
    assert.throws(() => judgeHead('vmdk', head(images.vmdkFlatPasswd), DEFAULT_DISK_FORMAT_POLICY), refused('outside the image'));
    assert.throws(() => judgeHead('vmdk', head(images.vmdkFlat), DEFAULT_DISK_FORMAT_POLICY), refused('outside the image'));
    assert.throws(() => judgeHead('raw', head(images.vmdkFlatPasswd), DEFAULT_DISK_FORMAT_POLICY), refused('outside the image'), 'declared raw');
    const everything = { ...DEFAULT_DISK_FORMAT_POLICY, vmdkAllowedTypes: ['monolithicFlat', 'monolithicSparse', 'streamOptimized'] };
    assert.throws(() => judgeHead('vmdk', head(images.vmdkFlat), everything), refused('outside the image'), 'not even when the operator allows the type');
    // an embedded descriptor that names another file
    const sparse = Buffer.from(head(images.good.vmdk));
    const text = sparse.toString('latin1');
    const at = text.indexOf('RW ');
    const line = text.slice(at, text.indexOf('\n', at));
    sparse.write(line.replace(/"[^"]*"/, '"/etc/passwd"').padEnd(line.length, ' '), at, 'latin1');
    assert.throws(() => judgeHead('vmdk', sparse, DEFAULT_DISK_FORMAT_POLICY), refused('Invalid extent filenames'));
  });

  it('vmdk_allowed_types narrows the single-file types; empty refuses every VMDK', function () {
    const onlyStream = { ...DEFAULT_DISK_FORMAT_POLICY, vmdkAllowedTypes: ['streamOptimized'] };
    assert.throws(() => judgeHead('vmdk', head(images.good.vmdk), onlyStream), refused('Unsupported subformat monolithicsparse'));
    assert.equal(judgeHead('vmdk', head(images.good.vmdkStream), onlyStream).format, 'vmdk');
    assert.throws(() => judgeHead('vmdk', head(images.good.vmdkStream), { ...DEFAULT_DISK_FORMAT_POLICY, vmdkAllowedTypes: [] }), refused('Unsupported subformat'));
  });

  it('every good image streams through the check unchanged', async function () {
    for (const [name, data] of Object.entries(images.good)) {
      assert.ok((await streamThrough(data, name === 'vmdkStream' ? 'vmdk' : name)).equals(data), name);
    }
  });

  it('a streamOptimized footer must repeat the header: checked at the end of the stream', async function () {
    const good = withFooter(images.good.vmdkStream);
    assert.ok((await streamThrough(good, 'vmdk')).equals(good), 'every byte passes unchanged');
    const moved = withFooter(images.good.vmdkStream, (footer) => footer.writeBigUInt64LE(5n, 28));
    await assert.rejects(streamThrough(moved, 'vmdk'), refused('different descriptor'));
    const truncated = withFooter(images.good.vmdkStream).subarray(0, -512);
    await assert.rejects(streamThrough(truncated, 'vmdk'), refused(/marker is invalid|signature/));
  });

  it('data must match the declared disk_format (require_image_format_match), as Glance 2024.2+', function () {
    assert.throws(() => judgeHead('qcow2', head(images.good.raw), DEFAULT_DISK_FORMAT_POLICY), refused('Image disk_format qcow2 does not match stream data raw'));
    assert.throws(() => judgeHead('vmdk', head(images.good.qcow2), DEFAULT_DISK_FORMAT_POLICY), refused('does not match stream data qcow2'));
    assert.throws(() => judgeHead('ami', head(images.good.qcow2), DEFAULT_DISK_FORMAT_POLICY), refused('does not match stream data qcow2'), 'uninspectable formats refuse recognised content');
    assert.equal(judgeHead('ami', head(images.good.raw), DEFAULT_DISK_FORMAT_POLICY).format, 'raw', '…and take anything else');
    assert.equal(judgeHead('raw', head(images.good.qcow2), DEFAULT_DISK_FORMAT_POLICY).format, 'qcow2', 'raw takes any safe content');
    const lax = { ...DEFAULT_DISK_FORMAT_POLICY, requireFormatMatch: false };
    assert.equal(judgeHead('qcow2', head(images.good.raw), lax).format, 'raw');
    assert.equal(inspectVirtualSize('qcow2', head(images.good.raw), images.good.raw.length), null, 'no virtual size for a mismatch');
  });

  it('an ISO with an MBR is an ISO; any other pair of formats is refused', function () {
    const hybrid = Buffer.from(images.good.iso);
    images.good.gpt.copy(hybrid, 0, 0, 512);
    assert.equal(judgeHead('iso', head(hybrid), DEFAULT_DISK_FORMAT_POLICY).format, 'iso');
    const both = Buffer.from(head(images.good.qcow2));
    both.writeUInt16LE(0xaa55, 510);
    assert.throws(() => judgeHead('qcow2', both, DEFAULT_DISK_FORMAT_POLICY), refused('Multiple formats detected: qcow2,gpt'));
  });

  it('an invalid MBR fails the mbr check unless gpt_safety_checks_nonfatal lists it', function () {
    const bad = Buffer.from(head(images.good.gpt));
    bad[446] = 0x33; // boot flag
    assert.throws(() => judgeHead('raw', bad, DEFAULT_DISK_FORMAT_POLICY), refused('invalid boot flag'));
    assert.equal(judgeHead('raw', bad, { ...DEFAULT_DISK_FORMAT_POLICY, gptSafetyChecksNonfatal: ['mbr'] }).format, 'gpt');
  });

  it('short data is judged at its end; only bare containers are inspected', async function () {
    assert.ok((await streamThrough(Buffer.from('tiny'), 'raw')).equals(Buffer.from('tiny')));
    await assert.rejects(streamThrough(Buffer.from('tiny'), 'qcow2'), refused('does not match stream data raw'));
    assert.equal(diskImageCheck('qcow2', 'ova', DEFAULT_DISK_FORMAT_POLICY), null);
  });

  it('a refused image stops at its head: the consumer gets less than the head', async function () {
    const check = diskImageCheck('qcow2', 'bare', DEFAULT_DISK_FORMAT_POLICY);
    assert.ok(check);
    let received = 0;
    const data = images.qcow2BackingFile;
    const pieces = function* () {
      for (let i = 0; i < data.length; i += 1000) yield data.subarray(i, i + 1000);
    };
    await assert.rejects(
      pipeline(Readable.from(pieces()), new HeadCapture(check.headBytes, check), new Writable({ write: (c: Buffer, _e, cb) => ((received += c.length), cb()) })),
      refused('backing file'),
    );
    assert.ok(received < INSPECTION_HEAD_BYTES, `${received} bytes went through`);
  });
});

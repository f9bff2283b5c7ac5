import assert from 'node:assert/strict';
import * as rules from '../../../src/domain/container-images/rules';
import { formatTime, parseTime } from '../../../src/domain/container-images/time';

describe('container-image rules (iSulad image store)', () => {
  it('names big-data files as iSulad does (§6.1)', () => {
    assert.equal(rules.bigDataFileName('manifest'), 'manifest');
    assert.equal(rules.bigDataFileName('Manifest'), '=TWFuaWZlc3Q=');
    assert.equal(rules.bigDataFileName('signature-1'), '=c2lnbmF0dXJlLTE=');
    const id = '39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10';
    assert.equal(rules.bigDataFileName(`sha256:${id}`), '=' + Buffer.from(`sha256:${id}`).toString('base64'));
    assert.equal(rules.bigDataFileName('v1.0'), 'v1.0');
    for (const key of ['', '.', '..', 'images.json', 'K'.repeat(200), 'k'.repeat(256)]) assert.throws(() => rules.assertValidBigDataKey(key), key);
  });

  it('tells digest names from tags and finds repositories behind registry ports', () => {
    const hex = 'a'.repeat(64);
    assert.equal(rules.isDigestName(`busybox@sha256:${hex}`), true);
    assert.equal(rules.isDigestName(`busybox:sha256-${hex}`), false);
    assert.equal(rules.repositoryOf('localhost:5000/repo:tag'), 'localhost:5000/repo');
    assert.equal(rules.repositoryOf('localhost:5000/repo'), 'localhost:5000/repo');
    assert.equal(rules.repositoryOf('busybox'), 'busybox');
    assert.deepEqual(rules.parseDigestReference(`repo@sha256:${hex}`), { name: 'repo', digest: `sha256:${hex}` });
    assert.equal(rules.parseDigestReference('repo@sha256:short'), null);
    assert.equal(rules.parseDigestReference(`@sha256:${hex}`), null);
  });

  it('strips the default registry host, then library/', () => {
    assert.equal(rules.stripDefaultPrefixes('docker.io/library/busybox:1'), 'busybox:1');
    assert.equal(rules.stripDefaultPrefixes('docker.io/me/app:1'), 'me/app:1');
    assert.equal(rules.stripDefaultPrefixes('library/nginx'), 'nginx');
    assert.equal(rules.stripDefaultPrefixes('quay.io/library/x'), 'quay.io/library/x');
    assert.equal(rules.stripDefaultPrefixes('library/'), 'library/');
  });

  it('sorts names byte-wise without duplicates', () => {
    assert.deepEqual(rules.uniqueSortedNames(['z:1', 'a:1', 'B:1', 'a:1', 'é:1']), ['B:1', 'a:1', 'z:1', 'é:1']);
  });

  describe('times', () => {
    const tz = process.env.TZ;
    afterEach(() => {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    });

    it('reads Z and offsets with up to nine fractional digits, keeping nanoseconds', () => {
      assert.equal(parseTime('2017-07-10T12:46:57.770791248Z'), 1499690817770791248n);
      assert.equal(parseTime('2017-07-10T20:46:57.770791248+08:00'), 1499690817770791248n);
      assert.equal(parseTime('2017-07-10T12:46:57Z'), 1499690817000000000n);
      assert.equal(parseTime('yesterday'), null);
    });

    it('writes local time with nine digits and a numeric offset', () => {
      process.env.TZ = 'UTC';
      assert.equal(formatTime(1499690817770791248n), '2017-07-10T12:46:57.770791248+00:00');
      process.env.TZ = 'Asia/Shanghai';
      assert.equal(formatTime(1499690817770791248n), '2017-07-10T20:46:57.770791248+08:00');
      process.env.TZ = 'America/St_Johns';
      assert.equal(formatTime(1499690817000000005n), '2017-07-10T10:16:57.000000005-02:30');
    });
  });
});

import assert from 'node:assert/strict';
import { StoreError } from '../../../src/stores/blob-store';
import { filesystemError, type FsOperation } from '../../../src/stores/filesystem-errors';

const OPERATIONS: FsOperation[] = ['put', 'get', 'stat', 'delete', 'list'];

function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failed, ${syscall} '/data/k'`), { code, syscall });
}

function mapped(err: unknown, operation: FsOperation = 'put'): StoreError {
  return filesystemError(err, { storeId: 'fs', dataDir: '/data', operation, key: 'k' });
}

describe('filesystem errors', function () {
  it('reports a full disk or quota (ENOSPC, EDQUOT) as storage_full, whichever call and operation raised it', function () {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      for (const syscall of ['open', 'mkdir', 'write', 'writev', 'fdatasync', 'fsync', 'rename']) {
        for (const operation of OPERATIONS) {
          const cause = errno(code, syscall);
          const err = mapped(cause, operation);
          assert.equal(err.kind, 'storage_full', `${code} from ${syscall} during ${operation}`);
          assert.equal(err.storeId, 'fs');
          assert.equal(err.cause, cause);
          assert.match(err.message, new RegExp(`^${operation} "k" in /data: no space left on the storage \\(${code}\\)$`));
        }
      }
    }
  });

  it('keeps the other kinds: not_found, invalid_key, write_denied, unavailable', function () {
    assert.equal(mapped(errno('ENOENT', 'open'), 'get').kind, 'not_found');
    assert.equal(mapped(errno('ENOTDIR', 'stat'), 'stat').kind, 'not_found');
    assert.equal(mapped(errno('ENOENT', 'rename'), 'put').kind, 'unavailable');
    for (const code of ['ENOTDIR', 'EEXIST', 'EISDIR']) assert.equal(mapped(errno(code, 'rename'), 'put').kind, 'invalid_key');
    for (const code of ['EACCES', 'EPERM', 'EROFS']) {
      assert.equal(mapped(errno(code, 'open'), 'put').kind, 'write_denied');
      assert.equal(mapped(errno(code, 'unlink'), 'delete').kind, 'write_denied');
      assert.equal(mapped(errno(code, 'open'), 'get').kind, 'unavailable');
    }
    assert.equal(mapped(errno('EFBIG', 'writev')).kind, 'unavailable');
    assert.equal(mapped(errno('EIO', 'read'), 'get').kind, 'unavailable');
    assert.equal(mapped(new Error('no code')).kind, 'unavailable');
  });

  it('passes a StoreError through unchanged', function () {
    const original = new StoreError('too_large', 'over the limit', 'fs');
    assert.equal(mapped(original), original);
  });
});

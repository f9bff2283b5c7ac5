import { strict as assert } from 'node:assert';
import type { Task } from '../../../src/domain/jobs/task';
import { CHECK_TASK, checkReportOf, COMPRESS_TASK, compressReportOf, gibibytes } from '../../../src/domain/imageops/reports';

/** The status derivations on task rows the API tests cannot easily produce (runner-written failures). */
describe('imageops reports from task rows', function () {
  const task = (over: Partial<Task>): Task => ({
    id: 'ec6ab748-2a6d-11ec-a684-0242ac110002',
    type: CHECK_TASK,
    status: 'pending',
    owner: null,
    imageId: 'img',
    requestId: null,
    userId: null,
    input: {},
    result: null,
    message: '',
    createdAt: new Date(),
    updatedAt: new Date(),
    expiresAt: null,
    claimedBy: null,
    leaseExpiresAt: null,
    ...over,
  });

  it('a job the runner failed on its own (time-out, crash) never reads as running (decision 6)', () => {
    const timedOut = checkReportOf(task({ status: 'failure', message: 'Job timed out after 1 s.' }));
    assert.equal(timedOut.status, 6);
    assert.equal(timedOut.checkInfo.checksum, 'error');
    assert.equal(checkReportOf(task({ status: 'failure', message: 'boom' })).status, 3);
    assert.equal(checkReportOf(task({ status: 'failure', result: { checkResult: 99, checksum: 'error', imageInfo: {} } })).status, 3);
    assert.equal(compressReportOf(task({ type: COMPRESS_TASK, status: 'failure', message: 'Job timed out after 1 s.' })).status, 4);
    assert.equal(compressReportOf(task({ type: COMPRESS_TASK, status: 'failure', message: 'boom' })).status, 2);
  });

  it('pending and processing jobs are in progress; a compress rate is clamped to [0, 1] with 3 decimals', () => {
    assert.equal(checkReportOf(task({ status: 'pending' })).status, 4);
    assert.equal(checkReportOf(task({ status: 'processing' })).msg, 'Check in Progress');
    assert.equal(compressReportOf(task({ type: COMPRESS_TASK, status: 'processing', result: { rate: 0.41234 } })).rate, 0.412);
    assert.equal(compressReportOf(task({ type: COMPRESS_TASK, status: 'processing', result: { rate: 7 } })).rate, 1);
    assert.equal(compressReportOf(task({ type: COMPRESS_TASK, status: 'pending' })).rate, 0);
  });

  it('a requestId of another job type is unknown to each report', () => {
    assert.equal(checkReportOf(task({ type: COMPRESS_TASK })).msg, 'Check failed, nonexistent request ID');
    assert.equal(compressReportOf(task({ type: 'api_image_import' })).msg, 'Compress Failed, nonexistent request ID');
  });

  it('virtual_size rounds half-to-even like Python round(x, 3)', () => {
    const MiB = 1024 * 1024;
    assert.equal(gibibytes(64 * MiB), 0.062); // 0.0625
    assert.equal(gibibytes(192 * MiB), 0.188); // 0.1875
    assert.equal(gibibytes(10 * MiB), 0.01); // 0.009765625
    assert.equal(gibibytes(1024 * MiB), 1);
    assert.equal(gibibytes(0), 0);
  });
});

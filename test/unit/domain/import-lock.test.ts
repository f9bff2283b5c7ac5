import assert from 'node:assert/strict';
import { KnexCatalog } from '../../../src/catalog/knex-catalog';
import { unauthenticatedContext } from '../../../src/domain/context';
import { isGlintError } from '../../../src/domain/errors';
import { IMPORT_TASK } from '../../../src/domain/imports/import-task';
import { startTestApp, type TestApp } from '../../support/app';

/** The image lock an import holds: a live lease keeps it, however old the task is. */
describe('import lock', () => {
  let t: TestApp;
  const ctx = unauthenticatedContext('req-test');
  const glanceDirect = { method: 'glance-direct' as const, allStores: false, allStoresMustSucceed: true };

  beforeEach(async () => {
    t = await startTestApp('', {}, { startWorkers: false });
  });
  afterEach(async () => {
    await t.close();
  });

  async function stagedImage(): Promise<string> {
    const created = await t.http.post('/v2/images').send({ name: 'i', disk_format: 'raw', container_format: 'bare' }).expect(201);
    const id = created.body.id as string;
    await t.http.put(`/v2/images/${id}/stage`).set('Content-Type', 'application/octet-stream').send(Buffer.from('staged')).expect(204);
    return id;
  }

  /** Moves every task's last update `hours` back, as if it had been running that long. */
  async function ageTask(hours: number): Promise<void> {
    const catalog = t.app.catalog;
    assert.ok(catalog instanceof KnexCatalog);
    await catalog.knex('tasks').update({ updated_at: Date.now() - hours * 3600_000 });
  }

  it('an import whose lease is being renewed stays locked after its 60 minutes', async () => {
    const id = await stagedImage();
    await t.app.services.imports.startImport(ctx, id, glanceDirect);
    const claimed = await t.app.catalog.tasks.claimNext([IMPORT_TASK], 'node-a/1', 60_000);
    assert.ok(claimed);
    await ageTask(2);
    await assert.rejects(t.app.services.imports.startImport(ctx, id, glanceDirect), (err: unknown) => isGlintError(err, 'IMPORT_LOCKED'));
  });

  it('a processing import whose lease expired long ago no longer locks the image', async () => {
    const id = await stagedImage();
    await t.app.services.imports.startImport(ctx, id, glanceDirect);
    assert.ok(await t.app.catalog.tasks.claimNext([IMPORT_TASK], 'node-a/1', 1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await ageTask(2);
    await t.app.services.imports.startImport(ctx, id, glanceDirect);
  });
});

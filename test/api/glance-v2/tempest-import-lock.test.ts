import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { createTestDatabase, type TestDatabase } from '../../support/mysql';
import { bytes, createImage, download, RAW_BARE, stage, waitForImage } from './support/harness';

/**
 * Found by Tempest's import tests on a MariaDB catalog (test/integration/tempest.test.ts runs on
 * SQLite): POST /import queued the task and only then locked the image for it, so a runner that
 * claimed the task first found no lock, failed the task, and left the image `uploading` with a
 * lock naming a failed task. Glance takes the lock before the task exists; so does glint now.
 */

const OWNER = as('proj-tempest', 'member');
const MULTI = `${TRUSTED}[DEFAULT]\nenabled_backends = cheap:file, fast:file\n[glance_store]\ndefault_backend = fast\n[cheap]\nfilesystem_store_datadir = {dir}/cheap\n[fast]\nfilesystem_store_datadir = {dir}/fast\n`;

for (const catalog of ['SQLite', 'MariaDB'] as const) describe(`Glance v2: an import right after its request always runs (Tempest), catalog on ${catalog}`, function () {
  this.timeout(60_000);
  let app: TestApp;
  let db: TestDatabase | undefined;

  before(async () => {
    if (catalog === 'MariaDB') db = await createTestDatabase();
    app = await startTestApp(MULTI, db ? { GLINT_DATABASE_CONNECTION: db.config.url } : {});
  });
  after(async () => {
    await app?.close();
    await db?.drop();
  });

  it('glance-direct imports, one after another as Tempest sends them, all end active with a successful task and no lock left', async () => {
    for (let i = 0; i < 6; i++) {
      const data = bytes(4096 + i);
      const id = (await createImage(app, RAW_BARE, OWNER)).id as string;
      assert.equal((await stage(app, id, data, OWNER)).status, 204);
      const started = await app.http.post(`/v2/images/${id}/import`).set(OWNER).send({ method: { name: 'glance-direct' }, all_stores: true });
      assert.equal(started.status, 202, started.text);
      const image = await waitForImage(app, id, (img) => img.status !== 'uploading' && img.status !== 'importing', { headers: OWNER });
      const tasks = await settledTasks(app, id);
      assert.equal(image.status, 'active', `import ${i}: ${JSON.stringify(image)} tasks ${JSON.stringify(tasks)}`);
      assert.equal(image.stores, 'cheap,fast');
      assert.equal(image.os_glance_import_task, undefined, 'the lock is released');
      assert.deepEqual(tasks.map((t) => t.status), ['success']);
      assert.ok(Buffer.compare((await download(app, id, OWNER)).body as Buffer, data) === 0);
    }
  });

  it('a copy-image import right after its request runs too', async () => {
    const id = (await createImage(app, RAW_BARE, OWNER)).id as string;
    const data = bytes(2048);
    assert.equal((await stage(app, id, data, OWNER)).status, 204);
    assert.equal((await app.http.post(`/v2/images/${id}/import`).set(OWNER).send({ method: { name: 'glance-direct' }, stores: ['fast'] })).status, 202);
    await waitForImage(app, id, (img) => img.status === 'active', { headers: OWNER });
    const admin = as('proj-tempest', 'admin');
    const copy = await app.http.post(`/v2/images/${id}/import`).set(admin).send({ method: { name: 'copy-image' }, stores: ['cheap'] });
    assert.equal(copy.status, 202, copy.text);
    const copied = await waitForImage(app, id, (img) => img.os_glance_importing_to_stores === '' && img.os_glance_import_task === undefined, { headers: OWNER });
    assert.equal(copied.os_glance_failed_import, '');
    assert.equal(copied.stores, 'fast,cheap');
  });
});

/** The image's tasks once none is pending or processing (the runner writes the outcome after the image turns active). */
async function settledTasks(app: TestApp, id: string): Promise<Array<{ status: string; message: string }>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const tasks = (await app.http.get(`/v2/images/${id}/tasks`).set(OWNER)).body.tasks as Array<{ status: string; message: string }>;
    if (tasks.every((t) => t.status !== 'pending' && t.status !== 'processing') || Date.now() > deadline) return tasks;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

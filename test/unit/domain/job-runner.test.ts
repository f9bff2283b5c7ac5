import assert from 'node:assert/strict';
import { KnexCatalog } from '../../../src/catalog/knex-catalog';
import {
  JobLeaseLostError,
  JobShutdownError,
  JobTimeoutError,
  type Job,
  type JobHandler,
  type JobOutcome,
} from '../../../src/domain/jobs/handler';
import { JobRunner, type JobRunnerOptions } from '../../../src/domain/jobs/runner';
import type { Task } from '../../../src/domain/jobs/task';
import type { TaskRepository } from '../../../src/domain/repositories';
import { createLogger } from '../../../src/lib/logger';

/**
 * The job runner against the real catalog (SQLite in memory). Several runners on one catalog
 * stand for several nodes; every assertion reads the task rows the runners leave behind.
 */
describe('JobRunner', function () {
  this.timeout(10_000);
  let catalog: KnexCatalog;
  const runners: JobRunner[] = [];

  beforeEach(async () => {
    catalog = await KnexCatalog.open({ client: 'sqlite', filename: ':memory:', url: 'sqlite://' });
    await catalog.migrate();
  });

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
    await catalog.close();
  });

  /** A started runner ("node") with short leases and polls. */
  function node(nodeId: string, handlers: JobHandler[], options: Partial<JobRunnerOptions> = {}): JobRunner {
    const runner = new JobRunner({
      tasks: catalog.tasks,
      logger: createLogger({ silent: true }),
      nodeId,
      leaseMs: 300,
      pollIntervalMs: 20,
      resultTtlMs: 48 * 3600_000,
      abortGraceMs: 200,
      ...options,
    });
    for (const handler of handlers) runner.register(handler);
    runners.push(runner);
    runner.start();
    return runner;
  }

  function handler(type: string, run: JobHandler['run'], overrides: Partial<JobHandler> = {}): JobHandler {
    return { types: [type], concurrency: 1, timeoutMs: 10_000, run, ...overrides };
  }

  const enqueue = (runner: JobRunner, type: string, input: Record<string, unknown> = {}) =>
    runner.enqueue({ type, owner: 'project-a', imageId: null, requestId: null, userId: null, input });

  /** Queued by some other node: only polling finds it. */
  const queueElsewhere = (type: string, input: Record<string, unknown> = {}) =>
    catalog.tasks.create({ id: crypto.randomUUID(), type, owner: null, imageId: null, requestId: null, userId: null, input });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(5);
    }
  }

  const task = async (id: string): Promise<Task> => {
    const found = await catalog.tasks.get(id);
    assert.ok(found, `task ${id} exists`);
    return found;
  };
  const finished = (id: string) => waitFor(`task ${id} to finish`, async () => {
    const t = await task(id);
    return t.status === 'success' || t.status === 'failure' ? t : null;
  });

  /** Resolves when the signal aborts, then throws its reason: a well-behaved long handler. */
  const untilAborted = (signal: AbortSignal) =>
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });

  it('runs a job to success and writes its result, claim and expiry', async () => {
    const runner = node('node-a', [handler('echo', async (job): Promise<JobOutcome> => ({ status: 'success', result: { echoed: job.input.value } }))]);
    const queued = await enqueue(runner, 'echo', { value: 42 });
    const done = await finished(queued.id);
    assert.equal(done.status, 'success');
    assert.deepEqual(done.result, { echoed: 42 });
    assert.equal(done.message, '');
    assert.match(done.claimedBy ?? '', /^node-a\//);
    assert.equal(done.leaseExpiresAt, null);
    assert.ok(done.expiresAt && Math.abs(done.expiresAt.getTime() - (Date.now() + 48 * 3600_000)) < 5000);
  });

  it('a handler that throws → failure with its message; a thrown non-Error still ends in failure', async () => {
    const runner = node('node-a', [
      handler('boom', async (job) => {
        if (job.input.kind === 'error') throw new Error('disk on fire');
        if (job.input.kind === 'string') throw 'plain text';
        if (job.input.kind === 'object') throw { code: 7 };
        throw undefined;
      }, { concurrency: 4 }),
      handler('sync', () => {
        throw new Error('thrown before any await');
      }),
      handler('declines', async () => ({ status: 'failure', message: 'source gone', result: { image_id: 'x' } })),
    ]);
    const ids = {
      error: (await enqueue(runner, 'boom', { kind: 'error' })).id,
      string: (await enqueue(runner, 'boom', { kind: 'string' })).id,
      object: (await enqueue(runner, 'boom', { kind: 'object' })).id,
      undefined: (await enqueue(runner, 'boom', { kind: 'undefined' })).id,
      sync: (await enqueue(runner, 'sync')).id,
      declines: (await enqueue(runner, 'declines')).id,
    };
    const messages: Record<string, string> = {};
    for (const [name, id] of Object.entries(ids)) {
      const done = await finished(id);
      assert.equal(done.status, 'failure', name);
      messages[name] = done.message;
    }
    assert.deepEqual(messages, {
      error: 'disk on fire',
      string: 'plain text',
      object: 'Job failed: {"code":7}',
      undefined: 'Job failed without an error.',
      sync: 'thrown before any await',
      declines: 'source gone',
    });
    assert.deepEqual((await task(ids.declines)).result, { image_id: 'x' });
    assert.equal((await task(ids.error)).result, null);
  });

  it('resumes a job whose node died: claimed again once its lease expired, not before', async () => {
    const queued = await queueElsewhere('resumable', { step: 1 });
    // a node claims it and dies without a word
    assert.equal((await catalog.tasks.claimNext(['resumable'], 'dead-node/1', 400))?.id, queued.id);
    const seen: string[] = [];
    node('node-b', [handler('resumable', async (job) => {
      seen.push(job.id);
      return { status: 'success', result: { resumedBy: 'node-b' } };
    })]);
    await sleep(200);
    assert.deepEqual(seen, [], 'the lease still holds');
    assert.equal((await task(queued.id)).claimedBy, 'dead-node/1');
    const done = await finished(queued.id);
    assert.deepEqual(seen, [queued.id]);
    assert.equal(done.status, 'success');
    assert.deepEqual(done.result, { resumedBy: 'node-b' });
    assert.match(done.claimedBy ?? '', /^node-b\//);
  });

  it('stop() aborts a running job, hands it back to pending, and another node finishes it', async () => {
    let startedOnA: (job: Job) => void = () => {};
    const startedA = new Promise<Job>((resolve) => (startedOnA = resolve));
    let reasonOnA: unknown;
    const nodeA = node('node-a', [handler('long', async (job, signal) => {
      startedOnA(job);
      try {
        return await untilAborted(signal);
      } catch (err) {
        reasonOnA = err;
        throw err;
      }
    })]);
    const queued = await enqueue(nodeA, 'long');
    await startedA;
    assert.equal((await task(queued.id)).status, 'processing');
    await nodeA.stop();
    assert.ok(reasonOnA instanceof JobShutdownError);
    const handedBack = await task(queued.id);
    assert.equal(handedBack.status, 'pending');
    assert.equal(handedBack.claimedBy, null);
    assert.equal(handedBack.leaseExpiresAt, null);
    assert.equal(handedBack.message, '');

    node('node-b', [handler('long', async () => ({ status: 'success', result: { finishedBy: 'node-b' } }))], { pollIntervalMs: 20 });
    const done = await finished(queued.id);
    assert.equal(done.status, 'success');
    assert.deepEqual(done.result, { finishedBy: 'node-b' });
    assert.match(done.claimedBy ?? '', /^node-b\//);
  });

  it('a handler that still finishes during shutdown has its outcome written, not handed back', async () => {
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => (started = resolve));
    const runner = node('node-a', [handler('finishing', async (_job, signal) => {
      started();
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return { status: 'success', result: { completed: true } };
    })]);
    const queued = await enqueue(runner, 'finishing');
    await running;
    await runner.stop();
    const done = await task(queued.id);
    assert.equal(done.status, 'success');
    assert.deepEqual(done.result, { completed: true });
  });

  it('never runs more jobs of a type than its concurrency on one node; other types are not held up', async () => {
    let inFlight = 0;
    let most = 0;
    let released: () => void = () => {};
    const gate = new Promise<void>((resolve) => (released = resolve));
    const runner = node('node-a', [
      handler('limited', async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await gate;
        await sleep(10);
        inFlight--;
      }, { concurrency: 2 }),
      handler('other', async () => ({ status: 'success' })),
    ]);
    const limited = [];
    for (let i = 0; i < 6; i++) limited.push((await enqueue(runner, 'limited')).id);
    await waitFor('two jobs in flight', () => inFlight === 2);
    await sleep(100);
    const rows = await Promise.all(limited.map(task));
    assert.equal(rows.filter((row) => row.status === 'processing').length, 2, 'two claimed');
    assert.equal(rows.filter((row) => row.status === 'pending').length, 4, 'the rest wait in the catalog');
    const other = await enqueue(runner, 'other');
    assert.equal((await finished(other.id)).status, 'success', 'a full type does not block another');
    released();
    for (const id of limited) assert.equal((await finished(id)).status, 'success');
    assert.equal(most, 2);
    assert.equal(runner.inFlight, 0);
  });

  it('the concurrency limit is per node: two nodes run twice as many', async () => {
    let inFlight = 0;
    let released: () => void = () => {};
    const gate = new Promise<void>((resolve) => (released = resolve));
    const work = handler('shared', async () => {
      inFlight++;
      await gate;
    });
    node('node-a', [work]);
    node('node-b', [work]);
    const ids = await Promise.all([1, 2, 3].map(() => queueElsewhere('shared')));
    await waitFor('one job per node', () => inFlight === 2);
    await sleep(100);
    assert.equal(inFlight, 2);
    const claims = (await Promise.all(ids.map((t) => task(t.id)))).filter((t) => t.status === 'processing').map((t) => (t.claimedBy ?? '').split('/')[0]);
    assert.deepEqual(claims.sort(), ['node-a', 'node-b']);
    released();
    for (const t of ids) assert.equal((await finished(t.id)).status, 'success');
  });

  it('a run over its timeout is aborted and the job fails with a clear message', async () => {
    let reason: unknown;
    const runner = node('node-a', [handler('slow', async (_job, signal) => {
      try {
        return await untilAborted(signal);
      } catch (err) {
        reason = err;
        throw new Error('interrupted', { cause: err });
      }
    }, { timeoutMs: 80 })]);
    const queued = await enqueue(runner, 'slow');
    const done = await finished(queued.id);
    assert.ok(reason instanceof JobTimeoutError);
    assert.equal(done.status, 'failure');
    assert.equal(done.message, 'Job timed out after 80 ms.');
  });

  it('a handler that ignores its timeout still gets its job failed after the grace period', async () => {
    const runner = node('node-a', [handler('stubborn', () => new Promise(() => {}), { timeoutMs: 50 })], { abortGraceMs: 50 });
    const queued = await enqueue(runner, 'stubborn');
    const done = await finished(queued.id);
    assert.equal(done.status, 'failure');
    assert.equal(done.message, 'Job timed out after 50 ms.');
    assert.equal(runner.inFlight, 1, 'the stuck handler keeps its slot');
  });

  it('when another node takes the job over, the old run is aborted and writes nothing', async () => {
    let startedOnA: () => void = () => {};
    const startedA = new Promise<void>((resolve) => (startedOnA = resolve));
    let reasonOnA: unknown;
    let endedOnA: () => void = () => {};
    const endedA = new Promise<void>((resolve) => (endedOnA = resolve));
    const nodeA = node('node-a', [handler('contested', async (_job, signal) => {
      startedOnA();
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      reasonOnA = signal.reason;
      endedOnA();
      // even an outcome returned after losing the lease must not be written
      return { status: 'failure', message: 'stale node A' };
    })], { leaseMs: 300, heartbeatMs: 30 });
    const queued = await enqueue(nodeA, 'contested');
    await startedA;
    // node A stalls past its lease (as after a long pause); node B takes the job over
    await catalog.knex('tasks').where({ id: queued.id }).update({ lease_expires_at: Date.now() - 1 });
    assert.equal((await catalog.tasks.claimNext(['contested'], 'node-b/1', 60_000))?.id, queued.id);
    await endedA;
    assert.ok(reasonOnA instanceof JobLeaseLostError);
    await sleep(100);
    const afterA = await task(queued.id);
    assert.equal(afterA.status, 'processing');
    assert.equal(afterA.claimedBy, 'node-b/1');
    assert.equal(afterA.message, '');
    assert.equal(nodeA.inFlight, 0);
    const completion = { status: 'success' as const, message: '', result: { by: 'node-b' }, expiresAt: new Date(Date.now() + 1000) };
    assert.equal(await catalog.tasks.finish(queued.id, 'node-b/1', completion), true);
    assert.deepEqual((await task(queued.id)).result, { by: 'node-b' });
  });

  it('a node that cannot renew its lease stops the run before the lease runs out; another node resumes it', async () => {
    // node A loses its database connection (renewals and claims fail) once its job runs
    let unreachable = false;
    const flaky: TaskRepository = Object.assign(Object.create(catalog.tasks) as TaskRepository, {
      renewLease: (id: string, workerId: string, leaseMs: number) =>
        unreachable ? Promise.reject(new Error('database unreachable')) : catalog.tasks.renewLease(id, workerId, leaseMs),
      claimNext: (types: readonly string[], workerId: string, leaseMs: number) =>
        unreachable ? Promise.reject(new Error('database unreachable')) : catalog.tasks.claimNext(types, workerId, leaseMs),
    });
    let abortedAt = 0;
    let reasonOnA: unknown;
    let startedOnA: () => void = () => {};
    const startedA = new Promise<void>((resolve) => (startedOnA = resolve));
    const nodeA = node('node-a', [handler('flaky', async (_job, signal) => {
      startedOnA();
      try {
        return await untilAborted(signal);
      } catch (err) {
        abortedAt = Date.now();
        reasonOnA = err;
        throw err;
      }
    })], { tasks: flaky, leaseMs: 400, heartbeatMs: 50 });
    const queued = await enqueue(nodeA, 'flaky');
    await startedA;
    unreachable = true;
    await waitFor('node A to give up', () => reasonOnA);
    assert.ok(reasonOnA instanceof JobLeaseLostError);
    const held = await task(queued.id);
    assert.equal(held.status, 'processing', 'node A wrote nothing');
    assert.ok(held.leaseExpiresAt && abortedAt < held.leaseExpiresAt.getTime(), 'aborted while the lease still held');
    node('node-b', [handler('flaky', async () => ({ status: 'success', result: { by: 'node-b' } }))]);
    const done = await finished(queued.id);
    assert.deepEqual(done.result, { by: 'node-b' });
    assert.match(done.claimedBy ?? '', /^node-b\//);
  });

  it('starts a job enqueued on this node at once, and finds jobs queued elsewhere by polling', async () => {
    const started: number[] = [];
    const runner = node('node-a', [handler('quick', async () => void started.push(Date.now()), { concurrency: 2 })], { pollIntervalMs: 60_000 });
    const before = Date.now();
    const queued = await enqueue(runner, 'quick');
    await finished(queued.id);
    assert.ok(started[0] !== undefined && started[0] - before < 1000, 'woken by enqueue, not by the (one minute) poll');

    node('node-b', [handler('polled', async () => ({ status: 'success' }))], { pollIntervalMs: 20 });
    const elsewhere = await queueElsewhere('polled');
    assert.equal((await finished(elsewhere.id)).status, 'success');
  });

  it('leaves job types it has no handler for to other nodes', async () => {
    node('node-a', [handler('mine', async () => ({ status: 'success' }))]);
    const foreign = await queueElsewhere('not-mine');
    const mine = await queueElsewhere('mine');
    await finished(mine.id);
    await sleep(60);
    const untouched = await task(foreign.id);
    assert.equal(untouched.status, 'pending');
    assert.equal(untouched.claimedBy, null);
  });

  it('cancel() fails a job nobody claimed yet, and leaves a running one to its handler', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const runner = node('node-a', [handler('gated', async () => {
      await gate;
      return { status: 'success' };
    })]);
    const waiting = await queueElsewhere('unhandled');
    assert.equal(await runner.cancel(waiting.id, 'Image changed meanwhile.'), true);
    const cancelled = await task(waiting.id);
    assert.equal(cancelled.status, 'failure');
    assert.equal(cancelled.message, 'Image changed meanwhile.');
    assert.ok(cancelled.expiresAt);
    const running = await enqueue(runner, 'gated');
    await waitFor('the job to run', async () => (await task(running.id)).status === 'processing');
    assert.equal(await runner.cancel(running.id, 'too late'), false);
    release();
    const done = await finished(running.id);
    assert.equal(done.status, 'success');
    assert.equal(done.message, '');
  });

  it('rejects a second handler for a type and nonsensical limits', () => {
    const runner = new JobRunner({ tasks: catalog.tasks, logger: createLogger({ silent: true }), nodeId: 'n', resultTtlMs: 1 });
    runner.register(handler('one', async () => {}));
    assert.throws(() => runner.register(handler('one', async () => {})), /already has a handler/);
    assert.throws(() => runner.register(handler('two', async () => {}, { concurrency: 0 })), /concurrency/);
    assert.throws(() => runner.register(handler('three', async () => {}, { timeoutMs: 0 })), /timeout/);
    assert.throws(() => new JobRunner({ tasks: catalog.tasks, logger: createLogger({ silent: true }), nodeId: 'n', resultTtlMs: 1, leaseMs: 100, heartbeatMs: 100 }), /heartbeat/);
  });
});

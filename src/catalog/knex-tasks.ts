import type { Knex } from 'knex';
import type { NewTask, Task, TaskCompletion, TaskStatus } from '../domain/jobs/task';
import type { TaskListQuery, TaskRepository } from '../domain/repositories';
import { afterKeyset, keysetOrderBy, toDate, toNullableDate, type DbBoolean, type DbInteger, type KeysetColumn } from './sql';

interface TaskRow {
  id: string;
  type: string;
  status: string;
  owner: string | null;
  image_id: string | null;
  request_id: string | null;
  user_id: string | null;
  input: string;
  result: string | null;
  message: string;
  created_at: DbInteger;
  updated_at: DbInteger;
  expires_at: DbInteger | null;
  deleted: DbBoolean;
  deleted_at: DbInteger | null;
  claimed_by: string | null;
  lease_expires_at: DbInteger | null;
}

function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    type: row.type,
    status: row.status as TaskStatus,
    owner: row.owner,
    imageId: row.image_id,
    requestId: row.request_id,
    userId: row.user_id,
    input: JSON.parse(row.input) as Record<string, unknown>,
    result: row.result === null ? null : (JSON.parse(row.result) as Record<string, unknown>),
    message: row.message,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    expiresAt: toNullableDate(row.expires_at),
    claimedBy: row.claimed_by,
    leaseExpiresAt: toNullableDate(row.lease_expires_at),
  };
}

/** The sortable columns, as SQL text, and each one's value in a marker task. */
const SORT_COLUMNS: Readonly<Record<TaskListQuery['sort']['key'], { column: string; valueOf: (task: Task) => string | number }>> = {
  created_at: { column: '`created_at`', valueOf: (task) => task.createdAt.getTime() },
  updated_at: { column: '`updated_at`', valueOf: (task) => task.updatedAt.getTime() },
  id: { column: '`id`', valueOf: (task) => task.id },
  type: { column: '`type`', valueOf: (task) => task.type },
  status: { column: '`status`', valueOf: (task) => task.status },
};

/** Candidates fetched per claim round; losing one to another node moves on to the next. */
const CLAIM_BATCH = 8;
/** Rounds before claimNext reports nothing to do while other nodes keep winning every candidate. */
const CLAIM_ROUNDS = 10;

export class KnexTaskRepository implements TaskRepository {
  constructor(private readonly knex: Knex) {}

  async create(task: NewTask): Promise<Task> {
    const now = Date.now();
    const row: TaskRow = {
      id: task.id,
      type: task.type,
      status: 'pending',
      owner: task.owner,
      image_id: task.imageId,
      request_id: task.requestId,
      user_id: task.userId,
      input: JSON.stringify(task.input),
      result: null,
      message: '',
      created_at: now,
      updated_at: now,
      expires_at: null,
      deleted: 0,
      deleted_at: null,
      claimed_by: null,
      lease_expires_at: null,
    };
    await this.knex('tasks').insert(row);
    return toTask(row);
  }

  async get(id: string): Promise<Task | null> {
    const row: TaskRow | undefined = await this.knex<TaskRow>('tasks').select('*').where({ id, deleted: false }).first();
    return row ? toTask(row) : null;
  }

  /** Pending tasks per type (a metrics gauge; not part of the domain's repository). */
  async countPendingByType(): Promise<Record<string, number>> {
    const rows = (await this.knex('tasks').select('type').count({ n: '*' }).where({ status: 'pending', deleted: false }).groupBy('type')) as Array<{
      type: string;
      n: number | string;
    }>;
    return Object.fromEntries(rows.map((row) => [row.type, Number(row.n)]));
  }

  async list(query: TaskListQuery): Promise<Task[]> {
    if (query.limit <= 0) return [];
    const select = this.knex<TaskRow>('tasks').select('*').where('deleted', false);
    if (query.owner === null) select.whereNull('owner');
    else if (query.owner !== undefined) select.where('owner', query.owner);
    if (query.type !== undefined) select.where('type', query.type);
    if (query.status !== undefined) select.where('status', query.status);
    if (query.imageId !== undefined) select.where('image_id', query.imageId);
    const { key, dir } = query.sort;
    // The id tie-breaker makes the order total, so a marker always has one position.
    // SQL text comes from the map only: a key outside it is a caller's bug, not a column name
    const sortColumn = Object.hasOwn(SORT_COLUMNS, key) ? SORT_COLUMNS[key] : undefined;
    if (sortColumn === undefined) throw new Error(`Invalid task sort key ${String(key)}`);
    const keyset: KeysetColumn[] = [{ column: sortColumn.column, dir, value: query.marker ? sortColumn.valueOf(query.marker) : null }];
    if (key !== 'id') keyset.push({ column: SORT_COLUMNS.id.column, dir, value: query.marker?.id ?? null });
    if (query.marker) {
      const after = afterKeyset(keyset);
      select.whereRaw(after.sql, after.bindings);
    }
    select.orderByRaw(keysetOrderBy(keyset));
    const rows: TaskRow[] = await select.limit(query.limit);
    return rows.map(toTask);
  }

  async update(
    id: string,
    changes: Partial<Pick<Task, 'status' | 'result' | 'message' | 'expiresAt' | 'input'>>,
    expectStatus?: TaskStatus | readonly TaskStatus[],
  ): Promise<Task | null> {
    const columns: Partial<Record<keyof TaskRow, string | number | null>> = { updated_at: Date.now() };
    if (changes.status !== undefined) columns.status = changes.status;
    if (changes.result !== undefined) columns.result = changes.result === null ? null : JSON.stringify(changes.result);
    if (changes.message !== undefined) columns.message = changes.message;
    if (changes.expiresAt !== undefined) columns.expires_at = changes.expiresAt === null ? null : changes.expiresAt.getTime();
    if (changes.input !== undefined) columns.input = JSON.stringify(changes.input);
    const query = this.knex('tasks').where({ id, deleted: false });
    if (expectStatus !== undefined) query.whereIn('status', typeof expectStatus === 'string' ? [expectStatus] : [...expectStatus]);
    const updated = await query.update(columns);
    return updated === 0 ? null : this.get(id);
  }

  async claimNext(types: readonly string[], workerId: string, leaseMs: number): Promise<Task | null> {
    if (types.length === 0) return null;
    for (let round = 0; round < CLAIM_ROUNDS; round++) {
      const candidates: Array<{ id: string }> = await whereClaimable(
        this.knex('tasks').select('id').whereIn('type', [...types]).where('deleted', false),
        Date.now(),
      )
        .orderBy([{ column: 'created_at' }, { column: 'id' }])
        .limit(CLAIM_BATCH);
      if (candidates.length === 0) return null;
      for (const { id } of candidates) {
        // The claim repeats the claimability test: of several nodes racing for this row, only the
        // first UPDATE still finds it claimable.
        const now = Date.now();
        const claimed = await whereClaimable(this.knex('tasks').where({ id, deleted: false }), now).update({
          status: 'processing',
          claimed_by: workerId,
          lease_expires_at: now + leaseMs,
          updated_at: now,
        });
        if (claimed === 1) return this.get(id);
      }
    }
    return null;
  }

  async renewLease(id: string, workerId: string, leaseMs: number): Promise<boolean> {
    const renewed = await this.held(id, workerId).update({ lease_expires_at: Date.now() + leaseMs });
    return renewed > 0;
  }

  async finish(id: string, workerId: string, completion: TaskCompletion): Promise<boolean> {
    const finished = await this.held(id, workerId).update({
      status: completion.status,
      message: completion.message,
      result: completion.result === null ? null : JSON.stringify(completion.result),
      expires_at: completion.expiresAt.getTime(),
      lease_expires_at: null,
      updated_at: Date.now(),
    });
    return finished > 0;
  }

  async release(id: string, workerId: string): Promise<boolean> {
    const released = await this.held(id, workerId).update({ status: 'pending', claimed_by: null, lease_expires_at: null, updated_at: Date.now() });
    return released > 0;
  }

  /** The task's row while `workerId`'s claim on it holds (an expired but untaken lease still counts). */
  private held(id: string, workerId: string): Knex.QueryBuilder {
    return this.knex('tasks').where({ id, deleted: false, status: 'processing', claimed_by: workerId });
  }
}

/**
 * Pending tasks, and processing tasks whose lease ran out (their node died or stalled). A
 * processing task without a lease is being run outside the claim protocol and is left alone.
 * Leases compare wall clocks of different nodes, so those clocks must be kept in sync (NTP).
 */
function whereClaimable(query: Knex.QueryBuilder, now: number): Knex.QueryBuilder {
  return query.where((claimable) =>
    claimable
      .where('status', 'pending')
      .orWhere((expired) => expired.where('status', 'processing').whereNotNull('lease_expires_at').where('lease_expires_at', '<=', now)),
  );
}

import type { Knex } from 'knex';
import { isMysql } from '../../migrations/table-options';
import type { AlgorithmChanges, AlgorithmImage, DependencyRef, NewAlgorithmImage } from '../domain/algorithms/algorithm';
import type { AlgorithmRepository } from '../domain/algorithms/algorithm-repository';
import { GlintError } from '../domain/errors';
import { inTransaction, isUniqueViolation, toNullableNumber, toNumber, type DbInteger } from './sql';
import { createStatementRunner, type Row as StatementRow, type SqlStatement, type StatementRunner } from './statements';

const IMAGES = 'algorithm_images';
const DEPENDENCIES = 'algorithm_image_dependencies';
/** `live` of a record that is not deleted; deleted records hold NULL (see the migration). */
const LIVE = 1;
/** Registrations that lost an assigned event type to a concurrent one are run again this often. */
const CREATE_ATTEMPTS = 5;
/** Event types per IN list. */
const IN_LIST_CHUNK = 500;

/** Domain field → column, for every field stored as it is. */
const COLUMN: Readonly<Record<Exclude<keyof AlgorithmImage, 'dependsOn'>, string>> = {
  id: 'id',
  name: 'name',
  tag: 'tag',
  ports: 'ports',
  mounts: 'mounts',
  pvcSize: 'pvc_size',
  factory: 'factory',
  algoName: 'algo_name',
  algoDesc: 'algo_desc',
  tvChannel: 'tv_channel',
  pics: 'pics',
  cpuRequests: 'cpu_requests',
  gpuRequests: 'gpu_requests',
  memRequests: 'mem_requests',
  config: 'config',
  algoType: 'algo_type',
  eventType: 'event_type',
  subPaths: 'sub_paths',
  hostPaths: 'host_paths',
  workingDir: 'working_dir',
  env: 'env',
  command: 'command',
  args: 'args',
  frameInterval: 'frame_interval',
  frameNumber: 'frame_number',
  incidentId: 'incident_id',
  useableFlag: 'useable_flag',
};
const FIELDS = Object.keys(COLUMN) as Array<keyof typeof COLUMN>;
const INTEGER_FIELDS = new Set<string>(['pvcSize', 'tvChannel', 'pics', 'cpuRequests', 'gpuRequests', 'memRequests', 'eventType', 'frameInterval', 'frameNumber']);
const SELECTED = [...FIELDS.map((field) => COLUMN[field]), 'dependency_event_types'];
/** The columns of a record, for the hand-written reads (statements.ts): positions as in SELECTED. */
const SELECT_RECORD = `SELECT ${SELECTED.map((column) => `\`${column}\``).join(', ')} FROM \`${IMAGES}\``;
const DEPENDENCIES_POSITION = FIELDS.length;
/** Search results in the (live, name, tag) index's order. */
const SEARCH_ORDER = 'ORDER BY `live`, `name`, `tag`';

type Row = Record<string, string | DbInteger | null>;

function toRecord(row: Row): AlgorithmImage {
  const record: Record<string, unknown> = {};
  for (const field of FIELDS) {
    const value = row[COLUMN[field]];
    record[field] = INTEGER_FIELDS.has(field) ? toNullableNumber(value as DbInteger | null) : value;
  }
  const dependencies = row.dependency_event_types as string | null;
  record.dependsOn = dependencies ? dependencies.split(',').map(Number) : null;
  return record as unknown as AlgorithmImage;
}

/** Position of each field in a hand-written read's row (SELECTED order). */
const AT = Object.fromEntries(FIELDS.map((field, position) => [field, position])) as Record<keyof typeof COLUMN, number>;

const text = (row: StatementRow, field: keyof typeof COLUMN) => row[AT[field]] as string | null;
const integer = (row: StatementRow, field: keyof typeof COLUMN) => toNullableNumber(row[AT[field]] as DbInteger | null);

/**
 * A record from a hand-written read's row. One object literal, so every record has the same
 * shape (a search builds a hundred of them, then the surface presents and serialises them).
 */
function rowToRecord(row: StatementRow): AlgorithmImage {
  const dependencies = row[DEPENDENCIES_POSITION] as string | null;
  return {
    id: row[AT.id] as string,
    name: row[AT.name] as string,
    tag: row[AT.tag] as string,
    ports: text(row, 'ports'),
    mounts: text(row, 'mounts'),
    pvcSize: integer(row, 'pvcSize'),
    factory: text(row, 'factory'),
    algoName: text(row, 'algoName'),
    algoDesc: text(row, 'algoDesc'),
    tvChannel: integer(row, 'tvChannel'),
    pics: integer(row, 'pics'),
    cpuRequests: integer(row, 'cpuRequests'),
    gpuRequests: integer(row, 'gpuRequests'),
    memRequests: integer(row, 'memRequests'),
    config: text(row, 'config'),
    algoType: row[AT.algoType] as string,
    eventType: toNumber(row[AT.eventType] as DbInteger),
    subPaths: text(row, 'subPaths'),
    hostPaths: text(row, 'hostPaths'),
    workingDir: text(row, 'workingDir'),
    env: text(row, 'env'),
    command: text(row, 'command'),
    args: text(row, 'args'),
    dependsOn: dependencies ? dependencies.split(',').map(Number) : null,
    frameInterval: integer(row, 'frameInterval'),
    frameNumber: integer(row, 'frameNumber'),
    incidentId: text(row, 'incidentId'),
    useableFlag: text(row, 'useableFlag'),
  };
}

/** The live records' search statement: a namespace is a range of the (live, name, tag) index. */
export function searchStatement(query: { namePrefix: string | null; nameContains: string | null }): SqlStatement {
  const conditions = ['`live` = 1'];
  const bindings: string[] = [];
  if (query.namePrefix) {
    conditions.push('`name` >= ?');
    bindings.push(query.namePrefix);
    const upper = prefixUpperBound(query.namePrefix);
    if (upper !== null) {
      conditions.push('`name` < ?');
      bindings.push(upper);
    } else {
      conditions.push('instr(`name`, ?) = 1');
      bindings.push(query.namePrefix);
    }
  }
  // instr is literal and, with the binary collations of both databases, case-sensitive.
  if (query.nameContains) {
    conditions.push('instr(`name`, ?) > 0');
    bindings.push(query.nameContains);
  }
  return { sql: `${SELECT_RECORD} WHERE ${conditions.join(' AND ')} ${SEARCH_ORDER}`, bindings };
}

function toColumns(fields: Partial<Record<keyof typeof COLUMN, unknown>>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined && field in COLUMN) columns[COLUMN[field as keyof typeof COLUMN]] = value;
  }
  return columns;
}

/** The dependency list as the column keeps it: event types joined by commas. */
function joined(eventTypes: readonly number[] | null): string | null {
  return eventTypes && eventTypes.length > 0 ? eventTypes.join(',') : null;
}

/**
 * The least string above every string that starts with `prefix` (its last code point plus one),
 * so a prefix is a range of the (live, name, tag) index. Null when there is no such string.
 */
export function prefixUpperBound(prefix: string): string | null {
  const points = Array.from(prefix);
  const last = points.pop()?.codePointAt(0);
  if (last === undefined || last >= 0x10ffff) return null;
  const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
  return points.join('') + String.fromCodePoint(next);
}

/** Algorithm records on SQLite and MySQL/MariaDB (tables of migrations/20261125000000_algorithm_images.ts). */
export class KnexAlgorithmRepository implements AlgorithmRepository {
  private readonly mysql: boolean;
  /** Reads past knex's query builder, with the driver's prepared-statement cache (statements.ts). */
  private readonly runner: StatementRunner;
  /** SQLite: registrations as one synchronous IMMEDIATE transaction on knex's connection. */
  private readonly sqliteWriter: SqliteWriter | null;

  constructor(private readonly knex: Knex) {
    this.mysql = isMysql(knex);
    this.runner = createStatementRunner(knex);
    this.sqliteWriter = this.mysql ? null : new SqliteWriter(knex);
  }

  async get(id: string): Promise<AlgorithmImage | null> {
    const [row] = await this.runner.rows(this.knex, { sql: `${SELECT_RECORD} WHERE \`id\` = ? AND \`live\` = 1 LIMIT 1`, bindings: [id] });
    return row ? rowToRecord(row) : null;
  }

  async findByNameTag(name: string, tag: string): Promise<AlgorithmImage | null> {
    const [row] = await this.runner.rows(this.knex, { sql: `${SELECT_RECORD} WHERE \`name\` = ? AND \`tag\` = ? AND \`live\` = 1 LIMIT 1`, bindings: [name, tag] });
    return row ? rowToRecord(row) : null;
  }

  async search(query: { namePrefix: string | null; nameContains: string | null }): Promise<AlgorithmImage[]> {
    return (await this.runner.rows(this.knex, searchStatement(query))).map(rowToRecord);
  }

  async namesByEventType(eventTypes: readonly number[]): Promise<Map<number, DependencyRef[]>> {
    const names = new Map<number, DependencyRef[]>();
    for (let start = 0; start < eventTypes.length; start += IN_LIST_CHUNK) {
      const rows = (await this.knex(IMAGES)
        .select('event_type', 'name', 'tag')
        .where('live', LIVE)
        .whereIn('event_type', eventTypes.slice(start, start + IN_LIST_CHUNK))
        .orderBy(['name', 'tag'])) as Array<{ event_type: DbInteger; name: string; tag: string }>;
      for (const row of rows) {
        const eventType = toNumber(row.event_type);
        names.set(eventType, [...(names.get(eventType) ?? []), { name: row.name, tag: row.tag }]);
      }
    }
    return names;
  }

  async hasLiveDependents(eventType: number, excludeId?: string): Promise<boolean> {
    return liveDependentExists(this.knex, eventType, excludeId ?? null);
  }

  async create(record: NewAlgorithmImage, dependencies: readonly DependencyRef[] | null): Promise<AlgorithmImage> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.sqliteWriter) return await this.sqliteWriter.create(record, dependencies);
        return await inTransaction(this.knex, async (trx) => {
          const dependsOn = dependencies ? await this.resolve(trx, dependencies) : null;
          // MySQL numbers the row itself (event_type is AUTO_INCREMENT there)
          const given = record.eventType ?? (this.mysql ? null : await nextEventType(trx));
          const now = Date.now();
          const [insertId] = (await trx(IMAGES).insert({
            ...toColumns({ ...record, eventType: given }),
            dependency_event_types: joined(dependsOn),
            live: LIVE,
            created_at: now,
            updated_at: now,
          })) as number[];
          const eventType = given ?? toNumber(insertId);
          await insertDependencies(trx, record.id, dependsOn);
          return { ...record, eventType, dependsOn: dependsOn && dependsOn.length > 0 ? dependsOn : null };
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // The unique indexes decided; say which rule the record broke.
        if (await this.findByNameTag(record.name, record.tag)) {
          throw new GlintError('ALGORITHM_EXISTS', `An algorithm image ${record.name}:${record.tag} exists.`, undefined, { cause: err });
        }
        if (record.eventType !== null && (await this.liveEventTypeExists(record.eventType))) {
          throw new GlintError('ALGORITHM_EVENT_TYPE_IN_USE', `eventType ${record.eventType} already exists`, undefined, { cause: err });
        }
        // SQLite: a number taken by a registration through another connection (or the winner is gone again): retry.
        if (attempt >= CREATE_ATTEMPTS) throw err;
      }
    }
  }

  async update(id: string, changes: AlgorithmChanges, dependencies: readonly DependencyRef[] | null): Promise<AlgorithmImage | null> {
    return inTransaction(this.knex, async (trx) => {
      const current = (await this.locked(trx(IMAGES).select('id').where({ id, live: LIVE }), 'update').first()) as Row | undefined;
      if (!current) return null;
      const dependsOn = dependencies ? await this.resolve(trx, dependencies) : null;
      const patch: Record<string, unknown> = { ...toColumns(changes), updated_at: Date.now() };
      if (dependsOn) {
        patch.dependency_event_types = joined(dependsOn);
        await trx(DEPENDENCIES).where('image_id', id).delete();
        await insertDependencies(trx, id, dependsOn);
      }
      await trx(IMAGES).where({ id, live: LIVE }).update(patch);
      const row = (await trx(IMAGES).select(SELECTED).where({ id }).first()) as Row;
      return toRecord(row);
    });
  }

  async markDeleted(id: string): Promise<'deleted' | 'not_found' | 'depended_on'> {
    return inTransaction(this.knex, async (trx) => {
      // The row lock waits for registrations holding this record as a dependency (they lock it shared).
      const row = (await this.locked(trx(IMAGES).select('event_type').where({ id, live: LIVE }), 'update').first()) as
        | { event_type: DbInteger }
        | undefined;
      if (!row) return 'not_found';
      if (await liveDependentExists(trx, toNumber(row.event_type), id)) return 'depended_on';
      const now = Date.now();
      await trx(IMAGES).where({ id, live: LIVE }).update({ live: null, deleted_at: now, updated_at: now });
      return 'deleted';
    });
  }

  /**
   * Event types of the live records `dependencies` name, in order, each row locked shared until
   * the transaction ends. A reference to no live record fails the whole write.
   */
  private async resolve(trx: Knex.Transaction, dependencies: readonly DependencyRef[]): Promise<number[]> {
    const eventTypes: number[] = [];
    for (const { name, tag } of dependencies) {
      const row =
        name === '' || tag === ''
          ? undefined
          : ((await this.locked(trx(IMAGES).select('event_type').where({ name, tag, live: LIVE }), 'share').first()) as { event_type: DbInteger } | undefined);
      if (!row) throw new GlintError('ALGORITHM_DEPENDENCY_NOT_FOUND', `No algorithm image ${name}:${tag} to depend on.`);
      eventTypes.push(toNumber(row.event_type));
    }
    return eventTypes;
  }

  private async liveEventTypeExists(eventType: number): Promise<boolean> {
    return (await this.knex(IMAGES).select('id').where({ event_type: eventType, live: LIVE }).first()) !== undefined;
  }

  /** Row locks exist on MySQL only; SQLite runs one writer at a time anyway. */
  private locked<T extends Knex.QueryBuilder>(query: T, mode: 'update' | 'share'): T {
    if (!this.mysql) return query;
    return (mode === 'update' ? query.forUpdate() : query.forShare()) as T;
  }
}

/** SQLite's stand-in for AUTO_INCREMENT: every event type ever used, deleted records' too, plus one. */
async function nextEventType(trx: Knex.Transaction): Promise<number> {
  const row = (await trx(IMAGES).max({ highest: 'event_type' }).first()) as { highest: DbInteger | null } | undefined;
  return (toNullableNumber(row?.highest ?? null) ?? 0) + 1;
}

async function insertDependencies(trx: Knex.Transaction, imageId: string, eventTypes: readonly number[] | null): Promise<void> {
  if (!eventTypes || eventTypes.length === 0) return;
  await trx(DEPENDENCIES).insert(eventTypes.map((eventType, position) => ({ image_id: imageId, position, event_type: eventType })));
}

/** Through the (event_type, image_id) index, then each dependent's primary key. */
async function liveDependentExists(knex: Knex | Knex.Transaction, eventType: number, excludeId: string | null): Promise<boolean> {
  const query = knex(`${DEPENDENCIES} as d`)
    .join(`${IMAGES} as a`, 'a.id', 'd.image_id')
    .select('d.image_id')
    .where('d.event_type', eventType)
    .andWhere('a.live', LIVE);
  if (excludeId !== null) query.andWhereNot('d.image_id', excludeId);
  return (await query.first()) !== undefined;
}

/** The parts of knex's client and of a better-sqlite3 connection used by SqliteWriter. */
interface KnexClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
}
interface SqliteStatement {
  get(...bindings: unknown[]): unknown;
  run(...bindings: unknown[]): unknown;
}
type Registration = (record: NewAlgorithmImage, dependencies: readonly DependencyRef[] | null) => AlgorithmImage;
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  transaction(work: Registration): { immediate: Registration };
}

const INSERT_COLUMNS = [...FIELDS.map((field) => COLUMN[field]), 'dependency_event_types', 'live', 'created_at', 'updated_at'];
/** Attempts of a registration whose BEGIN IMMEDIATE found the database busy past busy_timeout. */
const BUSY_ATTEMPTS = 5;

/**
 * Registration on SQLite in one round: the connection is taken from knex's pool (so it waits for a
 * knex transaction in this process, as a knex query would), and the whole transaction (BEGIN
 * IMMEDIATE, the dependencies' event types, MAX + 1, the inserts, COMMIT) runs synchronously
 * through statements prepared once per connection. IMMEDIATE takes the write lock first, so the
 * event type read under it cannot be taken by another process before the commit, and no other
 * request of this process can run between the statements.
 */
class SqliteWriter {
  private connection: SqliteConnection | null = null;
  private register: Registration | null = null;

  constructor(private readonly knex: Knex) {}

  async create(record: NewAlgorithmImage, dependencies: readonly DependencyRef[] | null): Promise<AlgorithmImage> {
    const client = this.knex.client as KnexClient;
    for (let attempt = 1; ; attempt++) {
      const connection = (await client.acquireConnection()) as SqliteConnection;
      try {
        return this.registration(connection)(record, dependencies);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (attempt >= BUSY_ATTEMPTS || typeof code !== 'string' || !code.startsWith('SQLITE_BUSY')) throw err;
      } finally {
        await client.releaseConnection(connection);
      }
      await new Promise((resolve) => setTimeout(resolve, attempt * 10 * Math.random()));
    }
  }

  /** The registration transaction, prepared once per connection (first use, or the pool replaced it). */
  private registration(connection: SqliteConnection): Registration {
    if (this.connection === connection && this.register !== null) return this.register;
    const dependency = connection.prepare(`SELECT event_type FROM ${IMAGES} WHERE name = ? AND tag = ? AND live = ${LIVE} LIMIT 1`);
    const highest = connection.prepare(`SELECT MAX(event_type) AS highest FROM ${IMAGES}`);
    const insert = connection.prepare(`INSERT INTO ${IMAGES} (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`);
    const insertDependency = connection.prepare(`INSERT INTO ${DEPENDENCIES} (image_id, position, event_type) VALUES (?, ?, ?)`);
    const register = connection.transaction((record, dependencies) => {
      let dependsOn: number[] | null = null;
      if (dependencies) {
        dependsOn = dependencies.map(({ name, tag }) => {
          const row = name === '' || tag === '' ? undefined : (dependency.get(name, tag) as { event_type: DbInteger } | undefined);
          if (!row) throw new GlintError('ALGORITHM_DEPENDENCY_NOT_FOUND', `No algorithm image ${name}:${tag} to depend on.`);
          return toNumber(row.event_type);
        });
      }
      let eventType = record.eventType;
      if (eventType === null) {
        const row = highest.get() as { highest: DbInteger | null } | undefined;
        eventType = (toNullableNumber(row?.highest ?? null) ?? 0) + 1;
      }
      const now = Date.now();
      const values: unknown[] = FIELDS.map((field) => (field === 'eventType' ? eventType : (record[field] ?? null)));
      values.push(joined(dependsOn), LIVE, now, now);
      insert.run(...values);
      dependsOn?.forEach((eventTypeOfDependency, position) => insertDependency.run(record.id, position, eventTypeOfDependency));
      return { ...record, eventType, dependsOn: dependsOn && dependsOn.length > 0 ? dependsOn : null };
    }).immediate;
    this.connection = connection;
    this.register = register;
    return register;
  }
}

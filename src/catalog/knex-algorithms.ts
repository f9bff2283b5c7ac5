import type { Knex } from 'knex';
import { isMysql } from '../../migrations/table-options';
import type { AlgorithmChanges, AlgorithmImage, DependencyRef, NewAlgorithmImage } from '../domain/algorithms/algorithm';
import type { AlgorithmRepository } from '../domain/algorithms/algorithm-repository';
import { GlintError } from '../domain/errors';
import { inTransaction, isUniqueViolation, toNullableNumber, toNumber, type DbInteger } from './sql';

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

  constructor(private readonly knex: Knex) {
    this.mysql = isMysql(knex);
  }

  async get(id: string): Promise<AlgorithmImage | null> {
    const row = (await this.knex(IMAGES).select(SELECTED).where({ id, live: LIVE }).first()) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  async findByNameTag(name: string, tag: string): Promise<AlgorithmImage | null> {
    const row = (await this.knex(IMAGES).select(SELECTED).where({ name, tag, live: LIVE }).first()) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  async search(query: { namePrefix: string | null; nameContains: string | null }): Promise<AlgorithmImage[]> {
    const select = this.knex(IMAGES).select(SELECTED).where('live', LIVE);
    if (query.namePrefix) {
      select.where('name', '>=', query.namePrefix);
      const upper = prefixUpperBound(query.namePrefix);
      if (upper !== null) select.where('name', '<', upper);
      else select.whereRaw('instr(name, ?) = 1', [query.namePrefix]);
    }
    // instr is literal and, with the binary collations of both databases, case-sensitive.
    if (query.nameContains) select.whereRaw('instr(name, ?) > 0', [query.nameContains]);
    const rows = (await select.orderBy([{ column: 'live' }, { column: 'name' }, { column: 'tag' }])) as Row[];
    return rows.map(toRecord);
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

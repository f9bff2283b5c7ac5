import { randomUUID } from 'node:crypto';
import { KnexCatalog } from '../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../src/config/database-url';

/**
 * Fills a fresh SQLite catalog with algoPlatform records before glint starts, through glint's own
 * catalog code: `KnexCatalog.open` + `migrate()` build the schema; one template record goes through
 * the repository (`algorithms.create`), so the bench fails loudly when the schema and this seeding
 * part ways; then rows go straight into `algorithm_images` and `algorithm_image_dependencies` in
 * transactions of 5,000 records through prepared statements on knex's own better-sqlite3
 * connection (`synchronous = OFF` while seeding).
 *
 * The shape of the registry (deterministic, so the wrk scripts can name records):
 * - `count / 100` namespaces `team000`…, each with 50 names × 2 tags (`v1.0`, `v2.1`): a
 *   namespace search returns about 100 records (3 % of records are soft-deleted);
 * - names `team042/<kind>-<nn>` with 20 kinds, so a substring like `ocr-07` matches about 100
 *   records over the whole registry;
 * - half the records are self-developed (algo type 0, with frame settings); 40 % of those depend
 *   on one or two earlier live records of their namespace.
 */

export const KINDS = [
  'face-detect', 'plate-read', 'ocr', 'pose-estim', 'crowd-count', 'smoke-detect', 'fire-detect', 'helmet-check',
  'intrusion', 'fall-detect', 'vehicle-class', 'posterize', 'reid', 'track', 'fight-detect', 'loiter',
  'mask-check', 'queue-length', 'parking', 'litter',
] as const;
export const NAMES_PER_NAMESPACE = 50;
export const TAGS = ['v1.0', 'v2.1'] as const;
export const RECORDS_PER_NAMESPACE = NAMES_PER_NAMESPACE * TAGS.length;

export function namespaceOf(ns: number): string {
  return `team${String(ns).padStart(3, '0')}`;
}

/** Name number `j` of namespace `ns`. */
export function recordName(ns: number, j: number): string {
  return `${namespaceOf(ns)}/${KINDS[(j + ns) % KINDS.length]}-${String(j).padStart(2, '0')}`;
}

/** Record number of name `j`, tag `t` of namespace `ns` (the seed's loop order). */
export function recordNumber(ns: number, j: number, t: number): number {
  return (ns * NAMES_PER_NAMESPACE + j) * TAGS.length + t;
}

/** The seed soft-deletes about 3 % of its records: these. */
export function isSeededDeleted(i: number): boolean {
  return i % 33 === 7;
}

export function namespaceCount(records: number): number {
  return Math.max(1, Math.floor(records / RECORDS_PER_NAMESPACE));
}

export async function seedAlgorithms(databaseFile: string, records: number): Promise<{ seconds: number; records: number; live: number; dependencies: number }> {
  const started = Date.now();
  const catalog = await KnexCatalog.open(parseDatabaseUrl(`sqlite:///${databaseFile}`));
  try {
    await catalog.migrate();
    // the template: whatever the current code writes for a record
    await catalog.algorithms.create(
      {
        id: randomUUID().replace(/-/g, ''),
        name: 'bench/template',
        tag: 'v0',
        ports: 'http:8080',
        mounts: '/data/models',
        pvcSize: 5,
        factory: 'bench',
        algoName: 'template',
        algoDesc: 'bench template',
        tvChannel: 4,
        pics: 1,
        cpuRequests: 2,
        gpuRequests: 1,
        memRequests: 4096,
        config: '/etc/algo/config.yaml',
        algoType: '1',
        eventType: null,
        subPaths: null,
        hostPaths: '/data/host:/data',
        workingDir: '/app',
        env: 'MODE:prod',
        command: 'python3',
        args: 'main.py',
        frameInterval: null,
        frameNumber: null,
        incidentId: null,
        useableFlag: '1',
      },
      null,
    );
    const knex = catalog.knex;
    await knex.raw('PRAGMA synchronous = OFF');
    const [template] = (await knex('algorithm_images').select('*').where('name', 'bench/template')) as Array<Record<string, unknown>>;
    const client = knex.client as KnexClient;
    const db = (await client.acquireConnection()) as SqliteDatabase;
    let live = 0;
    let dependencyRows = 0;
    try {
      const columns = Object.keys(template);
      const insertImage = db.prepare(`INSERT INTO algorithm_images (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
      const insertDependency = db.prepare('INSERT INTO algorithm_image_dependencies (image_id, position, event_type) VALUES (?, ?, ?)');
      const namespaces = namespaceCount(records);
      let eventType = Number(template.event_type);
      const baseTime = Date.now() - records * 1000;
      const BATCH_NAMESPACES = 50;
      for (let from = 0; from < namespaces; from += BATCH_NAMESPACES) {
        db.transaction(() => {
          for (let ns = from; ns < Math.min(namespaces, from + BATCH_NAMESPACES); ns++) {
            // event types of this namespace's live records so far, for its dependencies
            const earlier: number[] = [];
            for (let j = 0; j < NAMES_PER_NAMESPACE; j++) {
              for (let t = 0; t < TAGS.length; t++) {
                const i = recordNumber(ns, j, t);
                const id = randomUUID().replace(/-/g, '');
                const selfDeveloped = i % 2 === 0;
                const deleted = isSeededDeleted(i);
                const dependsOn = selfDeveloped && i % 5 < 2 && earlier.length > 0 ? [earlier[(i * 7) % earlier.length], ...(i % 5 === 0 && earlier.length > 1 ? [earlier[(i * 3) % earlier.length]] : [])] : [];
                const unique = [...new Set(dependsOn)];
                const time = baseTime + i * 1000;
                eventType += 1;
                const kind = KINDS[(j + ns) % KINDS.length];
                insertImage.run({
                  ...template,
                  id,
                  name: recordName(ns, j),
                  tag: TAGS[t],
                  event_type: eventType,
                  algo_type: selfDeveloped ? '0' : '1',
                  factory: `vendor-${ns % 17}`,
                  algo_name: `${kind} ${j}`,
                  algo_desc: `${kind} model ${j} for ${namespaceOf(ns)}, tag ${TAGS[t]}`,
                  tv_channel: 1 + (i % 16),
                  mem_requests: 1024 * (1 + (i % 8)),
                  frame_interval: selfDeveloped ? 5 : null,
                  frame_number: selfDeveloped ? 10 : null,
                  dependency_event_types: unique.length > 0 ? unique.join(',') : null,
                  incident_id: selfDeveloped ? `incident-${i % 97}` : null,
                  live: deleted ? null : 1,
                  created_at: time,
                  updated_at: time,
                  deleted_at: deleted ? time + 500 : null,
                });
                unique.forEach((dependency, position) => insertDependency.run(id, position, dependency));
                dependencyRows += unique.length;
                if (!deleted) {
                  live += 1;
                  earlier.push(eventType);
                }
              }
            }
          }
        })();
      }
    } finally {
      await client.releaseConnection(db);
    }
    // the template record is not part of the registry being measured
    await knex('algorithm_images').where('name', 'bench/template').delete();
    return { seconds: (Date.now() - started) / 1000, records: namespaceCount(records) * RECORDS_PER_NAMESPACE, live, dependencies: dependencyRows };
  } finally {
    await catalog.close();
  }
}

/** The parts of knex's client and better-sqlite3 used above (neither is in knex's public types). */
interface KnexClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
}

interface SqliteDatabase {
  prepare(sql: string): { run(...params: unknown[]): unknown };
  transaction(fn: () => void): () => void;
}

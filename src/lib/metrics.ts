import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * glint's Prometheus metrics (prom-client), one registry per app. Metric names follow
 * Prometheus' conventions (`glint_` prefix, base units, `_total` for counters, `_bytes`,
 * `_seconds`); README.md lists them. Labels carry bounded values only: surface names, route
 * templates (never concrete paths), status codes, store ids, error kinds, job types.
 *
 * Gauges whose value is read at scrape time (`collect`) get it from a callback the composition
 * root installs with `observe…`; the rest are counted where the event happens.
 */
export class GlintMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'glint_http_requests_total',
    help: 'HTTP requests answered, by surface, route template, method and status (499: the client left first).',
    labelNames: ['surface', 'route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'glint_http_request_duration_seconds',
    help: 'Time from the request reaching glint to its response finishing, by surface, route template and method.',
    labelNames: ['surface', 'route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly httpBytesIn = new Counter({
    name: 'glint_http_request_bytes_total',
    help: 'Bytes read from clients (request line, headers and body), by surface and route template.',
    labelNames: ['surface', 'route'] as const,
    registers: [this.registry],
  });

  readonly httpBytesOut = new Counter({
    name: 'glint_http_response_bytes_total',
    help: 'Bytes written to clients (status line, headers and body), by surface and route template.',
    labelNames: ['surface', 'route'] as const,
    registers: [this.registry],
  });

  readonly httpInFlight = new Gauge({
    name: 'glint_http_requests_in_flight',
    help: 'HTTP requests being handled.',
    registers: [this.registry],
  });

  readonly uploadsInFlight = new Gauge({
    name: 'glint_uploads_in_flight',
    help: 'Image data writes (uploads, stages, imports) streaming into a store.',
    registers: [this.registry],
  });

  readonly jobsInFlight = new Gauge({
    name: 'glint_jobs_in_flight',
    help: 'Jobs (imports) this node is running.',
    registers: [this.registry],
  });

  readonly jobQueueDepth = new Gauge({
    name: 'glint_job_queue_depth',
    help: 'Jobs waiting to be claimed, by type (the whole catalog; every node reports the same value).',
    labelNames: ['type'] as const,
    // every worker counts the same catalog rows: do not add them up
    aggregator: 'max',
    registers: [this.registry],
  });

  readonly storeErrors = new Counter({
    name: 'glint_store_errors_total',
    help: 'Failed blob-store operations, by store id, operation and error kind (not_found, storage_full, unavailable, …).',
    labelNames: ['store', 'operation', 'kind'] as const,
    registers: [this.registry],
  });

  readonly catalogErrors = new Counter({
    name: 'glint_catalog_query_errors_total',
    help: 'Catalog (database) queries that failed, by statement kind and driver error code.',
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // process_* and nodejs_* (CPU, memory, event loop lag, handles)
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Reads `gauge`'s value from `read` at every scrape. */
  observe(gauge: Gauge, read: () => number): void {
    (gauge as unknown as { collect: () => void }).collect = () => gauge.set(read());
  }

  /** Reads per-label values from `read` at every scrape; labels missing from the answer read 0. */
  observeLabelled(gauge: Gauge<'type'>, read: () => Promise<Record<string, number>>): void {
    const seen = new Set<string>();
    (gauge as unknown as { collect: () => Promise<void> }).collect = async () => {
      const values = await read();
      for (const type of seen) if (!(type in values)) gauge.set({ type }, 0);
      for (const [type, value] of Object.entries(values)) {
        seen.add(type);
        gauge.set({ type }, value);
      }
    };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** This process's metrics in the text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** In a cluster worker: answer the primary's aggregation requests with this registry. */
  serveToPrimary(): void {
    AggregatorRegistry.setRegistries([this.registry]);
    // constructing one installs prom-client's worker-side listener
    new AggregatorRegistry();
  }
}

/** IPC message a worker sends to ask the primary for the whole node's metrics. */
export interface ClusterMetricsRequest {
  type: 'glint:metrics-request';
  id: number;
}
/** The primary's answer. */
export interface ClusterMetricsResponse {
  type: 'glint:metrics-response';
  id: number;
  text?: string;
  error?: string;
}

export const CLUSTER_METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * The primary's side: every worker's registry summed into one exposition (prom-client's
 * AggregatorRegistry), answered to the worker that asked.
 */
export function serveClusterMetrics(cluster: {
  on(event: 'message', listener: (worker: { send(message: unknown): boolean }, message: unknown) => void): unknown;
}): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message) => {
    const request = message as Partial<ClusterMetricsRequest> | null;
    if (request?.type !== 'glint:metrics-request' || typeof request.id !== 'number') return;
    const id = request.id;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: 'glint:metrics-response', id, text } satisfies ClusterMetricsResponse),
      (err: unknown) => worker.send({ type: 'glint:metrics-response', id, error: String((err as Error)?.message ?? err) } satisfies ClusterMetricsResponse),
    );
  });
}

let nextRequest = 0;

/** A worker's side: asks the primary for the whole node's metrics (rejects after `timeoutMs`). */
export function requestClusterMetrics(timeoutMs = 10_000): Promise<string> {
  const send = process.send?.bind(process);
  if (!send) return Promise.reject(new Error('not a cluster worker'));
  const id = ++nextRequest;
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      const response = message as Partial<ClusterMetricsResponse> | null;
      if (response?.type !== 'glint:metrics-response' || response.id !== id) return;
      finish();
      if (response.error !== undefined || response.text === undefined) reject(new Error(response.error ?? 'no metrics'));
      else resolve(response.text);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error('the primary did not answer the metrics request'));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
    send({ type: 'glint:metrics-request', id } satisfies ClusterMetricsRequest);
  });
}

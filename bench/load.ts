import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk } from './proc';

/**
 * Load generation with Debian's wrk (a maintained C load generator: on a 2-core machine it takes
 * far less CPU from the server under test than a JavaScript client would), and transfers with
 * Debian's curl, streaming from a file or into /dev/null, each in its own process.
 */

export interface WrkResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  bytes: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors plus non-2xx/3xx answers; a run with errors is not a valid figure. */
  errors: number;
  errorDetail: string;
}

/**
 * wrk's Lua hooks: `request` builds a 4 KiB Range request at a random 4 KiB-aligned offset when
 * BENCH_RANGE_SIZE (the object size) is set, otherwise the plain GET of the URL; `done` prints one
 * machine-readable line.
 */
const WRK_SCRIPT = `
local size = tonumber(os.getenv("BENCH_RANGE_SIZE") or "0")
local len = 4096
local counter = 0
function init(args)
  counter = counter + 1
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000) + counter)
end
if size > 0 then
  local blocks = math.floor(size / len)
  function request()
    local start = math.random(0, blocks - 1) * len
    return wrk.format(nil, nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + len - 1) })
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

let scriptPath: string | undefined;

export function prepareLoad(dir: string): void {
  scriptPath = join(dir, 'bench.lua');
  writeFileSync(scriptPath, WRK_SCRIPT);
}

export interface WrkOptions {
  url: string;
  connections: number;
  seconds: number;
  threads?: number;
  /** Object size for random 4 KiB Range requests. */
  rangeOf?: number;
}

export async function wrk(options: WrkOptions): Promise<WrkResult> {
  if (!scriptPath) throw new Error('prepareLoad() not called');
  const threads = options.threads ?? 1;
  const args = ['-t', String(threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '10s', '-s', scriptPath, options.url];
  const env = { ...process.env, BENCH_RANGE_SIZE: String(options.rangeOf ?? 0) };
  const out = await runOk('/usr/bin/wrk', args, { env, timeoutMs: (options.seconds + 60) * 1000 });
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
  const seconds = r.duration_us / 1e6;
  const errors = r.connect + r.read + r.write + r.status + r.timeout;
  return {
    requests: r.requests,
    seconds,
    reqPerSec: r.requests / seconds,
    bytes: r.bytes,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors,
    errorDetail: errors ? `connect ${r.connect}, read ${r.read}, write ${r.write}, non-2xx/3xx ${r.status}, timeout ${r.timeout}` : '',
  };
}

export interface Transfer {
  bytes: number;
  seconds: number;
  /** MiB per second. */
  rate: number;
  status: number;
}

const CURL_FORMAT = '%{http_code} %{size_upload} %{size_download} %{time_total}';

/**
 * `curl -T file` as a PUT with Content-Type application/octet-stream and no `Expect: 100-continue`
 * (so no server is judged on how it answers Expect); fails unless the status is `expect`.
 */
export async function curlUpload(url: string, file: string, options: { expect?: number; headers?: Record<string, string> } = {}): Promise<Transfer> {
  const headers = Object.entries({ 'Content-Type': 'application/octet-stream', Expect: '', ...options.headers }).flatMap(([k, v]) => ['-H', `${k}:${v ? ` ${v}` : ''}`]);
  return curl(['-X', 'PUT', '-T', file, ...headers, '-o', '/dev/null', url], 'upload', options.expect ?? 204);
}

export async function curlDownload(url: string, options: { expect?: number; headers?: Record<string, string> } = {}): Promise<Transfer> {
  const headers = Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  return curl([...headers, '-o', '/dev/null', url], 'download', options.expect ?? 200);
}

async function curl(args: string[], direction: 'upload' | 'download', expect: number): Promise<Transfer> {
  const result = await run('/usr/bin/curl', ['-sS', '--http1.1', '-w', CURL_FORMAT, ...args], { timeoutMs: 1_800_000 });
  const [code, up, down, total] = result.stdout.trim().split(' ');
  const status = Number(code);
  if (result.code !== 0 || status !== expect) {
    throw new Error(`curl ${direction} ${args[args.length - 1]}: exit ${result.code}, HTTP ${code} (expected ${expect}) ${result.stderr.trim()}`);
  }
  const bytes = Number(direction === 'upload' ? up : down);
  const seconds = Number(total);
  return { bytes, seconds, rate: bytes / 1048576 / seconds, status };
}

/** JSON request helper for setting up images (not measured). */
export async function requestJson(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** POST /v2/images on a Glance-compatible server; returns the new id. */
export async function createImage(baseUrl: string, name: string): Promise<string> {
  const res = await requestJson('POST', `${baseUrl}/v2/images`, { name, disk_format: 'raw', container_format: 'bare' });
  if (res.status !== 201) throw new Error(`POST ${baseUrl}/v2/images: HTTP ${res.status} ${JSON.stringify(res.json).slice(0, 300)}`);
  return (res.json as { id: string }).id;
}

export async function deleteImage(baseUrl: string, id: string): Promise<void> {
  const res = await requestJson('DELETE', `${baseUrl}/v2/images/${id}`);
  if (res.status !== 204) throw new Error(`DELETE ${baseUrl}/v2/images/${id}: HTTP ${res.status}`);
}

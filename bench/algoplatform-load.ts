import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WrkResult } from './load';
import { runOk } from './proc';
import { KINDS, NAMES_PER_NAMESPACE } from './algoplatform-seed';

/**
 * wrk for the algoPlatform routes: every request is a POST with a JSON body built per request by
 * the Lua script below (generated into the bench's temp dir), and every answer is checked: HTTP
 * 200 with an envelope whose status is "0" (the surface answers business failures with 200 too,
 * so wrk's own non-2xx count would not see them).
 *
 * Modes (BENCH_ALGO_MODE):
 * - `search-ns`: `{"namespace": "team<nnn>"}` of a random namespace (about 100 records each);
 * - `search-sub`: `{"searchCondition": "<kind>-<nn>"}`, a random substring matching about 100
 *   records anywhere in the registry;
 * - `register`: a new record per request, `<BENCH_ALGO_RUN>/t<thread>-algo-<n>` (unique per wrk
 *   run, thread and request), tag v1; every fourth is self-developed with frame settings and a
 *   dependency on a live seeded record (BENCH_ALGO_DEPS, `name:tag` items separated by `;`).
 */
const SCRIPT = `
local mode = os.getenv("BENCH_ALGO_MODE")
local namespaces = tonumber(os.getenv("BENCH_ALGO_NAMESPACES") or "1")
local run = os.getenv("BENCH_ALGO_RUN") or "benchreg"
local deps = {}
for item in string.gmatch(os.getenv("BENCH_ALGO_DEPS") or "", "[^;]+") do table.insert(deps, item) end
local kinds = { ${KINDS.map((k) => `"${k}"`).join(', ')} }
local names_per_namespace = ${NAMES_PER_NAMESPACE}
local headers = { ["Content-Type"] = "application/json" }

local threads = {}
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

counter = 0
failures = 0
first_failure = ""
function init(args)
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000) + id)
end

function request()
  counter = counter + 1
  local body
  if mode == "register" then
    local name = string.format("%s/t%d-algo-%d", run, id, counter)
    if counter % 4 == 0 and #deps > 0 then
      body = string.format('{"imageName":"%s","imageTag":"v1","factory":"vendor-bench","algoName":"bench %d","algoDesc":"registered by the bench","algoType":"0","frameInterval":5,"frameNumber":10,"imagePorts":"http:8080","imageMount":"/data/models","pvcSize":5,"cpuRequests":2,"gpuRequests":1,"memRequests":4096,"env":"MODE:prod","workingDir":"/app","dependencyServiceId":"%s"}', name, counter, deps[(counter / 4) % #deps + 1])
    else
      body = string.format('{"imageName":"%s","imageTag":"v1","factory":"vendor-bench","algoName":"bench %d","algoDesc":"registered by the bench","algoType":"1","imagePorts":"http:8080","imageMount":"/data/models","pvcSize":5,"cpuRequests":2,"gpuRequests":1,"memRequests":4096,"env":"MODE:prod","workingDir":"/app"}', name, counter)
    end
  elseif mode == "search-ns" then
    body = string.format('{"namespace":"team%03d"}', math.random(0, namespaces - 1))
  else
    local j = math.random(0, names_per_namespace - 1)
    body = string.format('{"searchCondition":"%s-%02d"}', kinds[math.random(1, #kinds)], j)
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 13) ~= '{"status":"0"' then
    failures = failures + 1
    if first_failure == "" then first_failure = status .. " " .. string.sub(body, 1, 160) end
  end
end

function done(summary, latency, requests)
  local bad = 0
  local first = ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("failures")
    if first == "" then first = thread:get("first_failure") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"envelope":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), bad))
  if first ~= "" then io.write("BENCH_FIRST_FAILURE " .. first .. "\\n") end
end
`;

export type AlgoLoadMode = 'search-ns' | 'search-sub' | 'register';

export interface AlgoLoad {
  url: string;
  mode: AlgoLoadMode;
  connections: number;
  seconds: number;
  namespaces: number;
  /** Unique per wrk run: the namespace of the records a register load creates. */
  run?: string;
  /** `name:tag` of live records a register may depend on. */
  dependencies?: string[];
}

let scriptPath: string | undefined;

export function prepareAlgoLoad(dir: string): void {
  scriptPath = join(dir, 'algoplatform.lua');
  writeFileSync(scriptPath, SCRIPT);
}

/** One wrk run; answers that are not a success envelope count as errors. */
export async function algoWrk(load: AlgoLoad): Promise<WrkResult> {
  if (!scriptPath) throw new Error('prepareAlgoLoad() not called');
  const args = ['-t', '1', '-c', String(load.connections), '-d', `${load.seconds}s`, '--timeout', '10s', '-s', scriptPath, load.url];
  const env = {
    ...process.env,
    BENCH_ALGO_MODE: load.mode,
    BENCH_ALGO_NAMESPACES: String(load.namespaces),
    BENCH_ALGO_RUN: load.run ?? 'benchreg',
    BENCH_ALGO_DEPS: (load.dependencies ?? []).join(';'),
  };
  const out = await runOk('/usr/bin/wrk', args, { env, timeoutMs: (load.seconds + 60) * 1000 });
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>;
  const first = out.split('\n').find((l) => l.startsWith('BENCH_FIRST_FAILURE '))?.slice('BENCH_FIRST_FAILURE '.length);
  const seconds = r.duration_us / 1e6;
  // a non-2xx answer is counted by wrk and by the envelope check: count it once
  const errors = r.connect + r.read + r.write + r.timeout + Math.max(r.status, r.envelope);
  return {
    requests: r.requests,
    seconds,
    reqPerSec: r.requests / seconds,
    bytes: r.bytes,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors,
    errorDetail: errors
      ? `connect ${r.connect}, read ${r.read}, write ${r.write}, non-2xx ${r.status}, not a success envelope ${r.envelope}, timeout ${r.timeout}${first ? `; first: ${first}` : ''}`
      : '',
  };
}

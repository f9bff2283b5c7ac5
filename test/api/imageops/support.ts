import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type TestAgent from 'supertest/lib/agent';
import { openApiChecker } from '../../support/openapi';

export const BASE = '/api/v1/vmimage';
export const UUID1 = /^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const imageOpsSpec = openApiChecker(path.resolve(__dirname, '../../../api-spec/imageops.yaml'));

/** Real images made by qemu-img and qemu-io, plus two made broken by editing one refcount. */
export interface ImageOpsImages {
  /** qcow2, 64 MiB virtual, 1 MiB of 0x5a written: consistent. */
  healthy: Buffer;
  /** The same qcow2 with the refcount of cluster 0 set to 0: one corruption (qemu-img check exit 2). */
  corrupt: Buffer;
  /** The same qcow2 with the refcount of cluster 0 set to 2: one leaked cluster (exit 3). */
  leaks: Buffer;
  /** 3 MiB raw disk of text. */
  raw: Buffer;
  /** qcow2, 256 MiB virtual, 24 MiB of varied data: a compress that takes a while under a rate limit. */
  large: Buffer;
}

export const HEALTHY_VIRTUAL = 64 * 1024 * 1024;

export function makeImageOpsImages(): ImageOpsImages {
  const dir = mkdtempSync(path.join(tmpdir(), 'glint-imageops-images-'));
  try {
    const run = (tool: string, ...args: string[]) => execFileSync(tool, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    run('qemu-img', 'create', '-q', '-f', 'qcow2', 'healthy.qcow2', '64M');
    run('qemu-io', '-c', 'write -P 0x5a 0 1M', 'healthy.qcow2');
    run('qemu-img', 'create', '-q', '-f', 'qcow2', 'large.qcow2', '256M');
    for (let mib = 0; mib < 24; mib++) run('qemu-io', '-c', `write -P ${(mib * 37) % 251} ${mib * 4}M 1M`, 'large.qcow2');
    const healthy = readFileSync(path.join(dir, 'healthy.qcow2'));
    return {
      healthy,
      corrupt: withClusterZeroRefcount(healthy, 0),
      leaks: withClusterZeroRefcount(healthy, 2),
      raw: Buffer.alloc(3 * 1024 * 1024, 'glint imageops raw disk\n'),
      large: readFileSync(path.join(dir, 'large.qcow2')),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A copy of a qcow2 whose first refcount entry (cluster 0, the header; 16-bit refcounts) is `value`. */
function withClusterZeroRefcount(qcow2: Buffer, value: number): Buffer {
  const copy = Buffer.from(qcow2);
  const refcountTable = Number(copy.readBigUInt64BE(48));
  const refcountBlock = Number(copy.readBigUInt64BE(refcountTable));
  copy.writeUInt16BE(value, refcountBlock);
  return copy;
}

/**
 * A stand-in for qemu-img that sleeps `delaySeconds` before running the real one (a slow disk),
 * or fails `convert` with exit 1 (`failConvert`). Returns its path.
 */
export function fakeQemuImg(dir: string, options: { delaySeconds?: number; failConvert?: boolean }): string {
  const file = path.join(dir, `qemu-img-${options.delaySeconds ?? 0}-${options.failConvert ? 'fail' : 'ok'}`);
  const lines = ['#!/bin/sh'];
  if (options.failConvert) lines.push('if [ "$1" = convert ]; then echo "qemu-img: simulated failure" >&2; exit 1; fi');
  if (options.delaySeconds) lines.push(`sleep ${options.delaySeconds}`);
  lines.push('exec qemu-img "$@"', '');
  writeFileSync(file, lines.join('\n'));
  chmodSync(file, 0o755);
  return file;
}

/** Creates a Glance image and uploads `data`; returns its id. */
export async function uploadImage(http: TestAgent, data: Buffer, diskFormat: string, name = 'imageops-source', headers: Record<string, string> = {}): Promise<string> {
  const created = await http.post('/v2/images').set(headers).send({ name, disk_format: diskFormat, container_format: 'bare' });
  assert.equal(created.status, 201, created.text);
  const id = created.body.id as string;
  const put = await http.put(`/v2/images/${id}/file`).set(headers).type('application/octet-stream').send(data);
  assert.equal(put.status, 204, put.text);
  return id;
}

/** POSTs `body` to `route` (check or compress), checks the answer against the spec, returns it. */
export async function post(http: TestAgent, route: 'check' | 'compress', body: unknown): Promise<{ status: number; body: Record<string, unknown>; text: string; type: string }> {
  const req = http.post(`${BASE}/${route}`);
  const res = typeof body === 'string' ? await req.type('application/json').send(body) : await req.send(body as object);
  const type = String(res.headers['content-type'] ?? '');
  imageOpsSpec.assertMatchesSpec('post', `${BASE}/${route}`, res.status, res.headers as Record<string, string>, /json/.test(type) ? res.body : res.text);
  return { status: res.status, body: res.body as Record<string, unknown>, text: res.text, type };
}

/** GETs a status, checked against the spec. */
export async function status(http: TestAgent, route: 'check' | 'compress', requestId: string): Promise<Record<string, unknown>> {
  const url = `${BASE}/${route}/${encodeURIComponent(requestId)}`;
  const res = await http.get(url);
  assert.equal(res.status, 200, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  imageOpsSpec.assertMatchesSpec('get', url, res.status, res.headers as Record<string, string>, res.body);
  return res.body as Record<string, unknown>;
}

/** Polls a status until `done` says so (every 50 ms, at most `seconds`); returns every answer seen. */
export async function pollUntil(
  http: TestAgent,
  route: 'check' | 'compress',
  requestId: string,
  done: (answer: Record<string, unknown>) => boolean,
  seconds = 30,
): Promise<Array<Record<string, unknown>>> {
  const seen: Array<Record<string, unknown>> = [];
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const answer = await status(http, route, requestId);
    seen.push(answer);
    if (done(answer)) return seen;
    if (Date.now() > deadline) throw new Error(`${route} ${requestId} still ${JSON.stringify(answer)} after ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const finishedCheck = (answer: Record<string, unknown>) => answer.status !== 4;
export const finishedCompress = (answer: Record<string, unknown>) => answer.status !== 1;

/** The ini of an imageops test app: a filesystem store, a temp dir, and `extra` [imageops] lines. */
export function imageOpsIni(extra: string[] = [], store: string[] = ['[glance_store]', 'filesystem_store_datadir = {dir}/images']): string {
  return [...store, '[imageops]', 'temp_dir = {dir}/imageops-tmp', 'min_free_space_percent = 0', ...extra, ''].join('\n');
}

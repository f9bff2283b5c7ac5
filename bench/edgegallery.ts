import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Glint, GlintStore } from './glint';
import { createImage, curlDownload, curlUpload, deleteImage, requestJson, type Transfer } from './load';
import { flushDirtyPages, run, sleep } from './proc';
import { makeRow, type Row } from './table';

/**
 * The `edgegallery` phase: EdgeGallery's file management (`/image-management/v1`, issue 12) on a
 * fresh glint (built, default workers, file store + SQLite), every figure against glint's own
 * Glance routes in the same process, interleaved run by run:
 * - `POST /images` (multipart, the blob as the `file` part; curl -F streams it from disk) against
 *   `PUT /v2/images/{id}/file` of the same blob, goal ≥ 90 %;
 * - `POST /images/merge` of the blob staged as 4 MiB chunks (`1.part` …, posted 4 at a time
 *   beforehand, reported as an info row) against the same PUT, goal ≥ 90 %: the merge reads the
 *   chunk objects in order and writes one image through the ingest pipeline;
 * - `GET /images/{id}/action/download` and `?isZip=true` (a stored zip entry streamed, no temp
 *   file) against `GET /v2/images/{id}/file` of the same image, goal ≥ 90 % each.
 * Before each measured transfer the image check the upload queued (qemu-img) is waited for, so no
 * figure shares the CPU with it, and `sync` runs before every upload as in the io phase.
 */

export interface EdgeGalleryMeasurements {
  upload: { glint: number[]; put: number[] };
  merge: { glint: number[]; put: number[] };
  chunkPosts: number[];
  download: { glint: number[]; glance: number[] };
  zipDownload: { glint: number[]; glance: number[] };
  chunks?: number;
}

export function newEdgeGalleryMeasurements(): EdgeGalleryMeasurements {
  return { upload: { glint: [], put: [] }, merge: { glint: [], put: [] }, chunkPosts: [], download: { glint: [], glance: [] }, zipDownload: { glint: [], glance: [] } };
}

/** What the phase takes from bench/run.ts. */
export interface EdgeGalleryHost {
  settings: { runs: number; size: number };
  tmp: string;
  blob: string;
  m: { edgegallery: EdgeGalleryMeasurements; notes: string[] };
  log(message: string): void;
  withGlint<T>(name: string, store: GlintStore, work: (glint: Glint) => Promise<T>, database: string): Promise<T>;
}

const BASE = '/image-management/v1';
const MiB = 1024 * 1024;
const CHUNK_SIZE = 4 * MiB;
const CHUNK_POSTS_AT_ONCE = 4;
const CURL_FORMAT = '%{http_code} %{time_total}';

export async function edgeGalleryPhase(host: EdgeGalleryHost): Promise<void> {
  const { settings, m, log } = host;
  const dir = join(host.tmp, 'glint-edgegallery');
  const chunkDir = join(host.tmp, 'edgegallery-chunks');
  const chunkFiles = splitIntoChunks(host.blob, settings.size, chunkDir);
  m.edgegallery.chunks = chunkFiles.length;
  const eg = m.edgegallery;
  try {
    await host.withGlint(
      'edgegallery',
      { type: 'file', dataDir: join(dir, 'images') },
      async (glint) => {
        log(`EdgeGallery: upload, merge of ${chunkFiles.length} × 4 MiB, download and isZip download of ${settings.size / MiB} MiB ×${settings.runs}, against PUT/GET /v2/images/{id}/file`);
        for (let r = 0; r < settings.runs; r++) {
          await flushDirtyPages();
          const putId = await createImage(glint.url, `bench-eg-put-${r}`);
          const put = await curlUpload(`${glint.url}/v2/images/${putId}/file`, host.blob);
          eg.upload.put.push(put.rate);
          eg.merge.put.push(put.rate);

          await flushDirtyPages();
          const upload = await postFile(`${glint.url}${BASE}/images`, host.blob, settings.size);
          const uploadedId = upload.imageId;
          eg.upload.glint.push(upload.rate);
          await checkFinished(glint, uploadedId);

          const identifier = `bench-${r}-${Date.now()}`;
          const posts = await postChunks(glint, identifier, chunkFiles, settings.size);
          eg.chunkPosts.push(posts.rate);
          await flushDirtyPages();
          const merged = await mergeChunks(glint, identifier, settings.size);
          eg.merge.glint.push(merged.rate);
          await checkFinished(glint, merged.imageId);
          log(`  PUT /file ${put.rate.toFixed(0)} MiB/s; EdgeGallery upload ${upload.rate.toFixed(0)} MiB/s; chunk posts ${posts.rate.toFixed(0)} MiB/s; merge ${merged.rate.toFixed(0)} MiB/s`);

          const glance = await curlDownload(`${glint.url}/v2/images/${merged.imageId}/file`);
          const download = await curlDownload(`${glint.url}${BASE}/images/${merged.imageId}/action/download`);
          const zip = await curlDownload(`${glint.url}${BASE}/images/${merged.imageId}/action/download?isZip=true`);
          const glanceAgain = await curlDownload(`${glint.url}/v2/images/${merged.imageId}/file`);
          for (const [name, t] of [['download', download], ['glance', glance], ['glance', glanceAgain]] as const) {
            if (t.bytes !== settings.size) throw new Error(`${name} returned ${t.bytes} bytes, not ${settings.size}`);
          }
          if (zip.bytes <= settings.size) throw new Error(`isZip download returned ${zip.bytes} bytes, less than the image`);
          // the Glance download before and after: each EdgeGallery figure against its neighbour
          eg.download.glint.push(download.rate);
          eg.download.glance.push(glance.rate);
          eg.zipDownload.glint.push(zip.rate);
          eg.zipDownload.glance.push(glanceAgain.rate);
          log(`  GET /file ${glance.rate.toFixed(0)} / ${glanceAgain.rate.toFixed(0)} MiB/s; EdgeGallery download ${download.rate.toFixed(0)} MiB/s; isZip ${zip.rate.toFixed(0)} MiB/s`);
          for (const id of [putId, uploadedId, merged.imageId]) await deleteImage(glint.url, id);
        }
      },
      join(dir, 'glint.db'),
    );
  } finally {
    rmSync(chunkDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

export function edgeGalleryRows(size: string, m: EdgeGalleryMeasurements, failure: string | undefined): Row[] {
  const note = failure ? `glint failed: ${failure.split('\n')[0]}` : undefined;
  const chunks = m.chunks ?? 0;
  return [
    makeRow({ metric: `EdgeGallery upload ${size} (multipart)`, unit: 'MiB/s', glintRuns: m.upload.glint, referenceRuns: m.upload.put, referenceName: 'glint PUT /file', goal: { kind: 'ratio-min', value: 0.9 }, note }),
    makeRow({ metric: `EdgeGallery merge of ${chunks} chunks of 4 MiB`, unit: 'MiB/s', glintRuns: m.merge.glint, referenceRuns: m.merge.put, referenceName: 'glint PUT /file', goal: { kind: 'ratio-min', value: 0.9 } }),
    makeRow({ metric: `  ${chunks} chunk posts, ${CHUNK_POSTS_AT_ONCE} at once`, unit: 'MiB/s', glintRuns: m.chunkPosts, referenceRuns: m.merge.put, referenceName: 'glint PUT /file', goal: { kind: 'info' }, note: 'one curl per chunk' }),
    makeRow({ metric: `EdgeGallery download ${size}`, unit: 'MiB/s', glintRuns: m.download.glint, referenceRuns: m.download.glance, referenceName: 'glint GET /file', goal: { kind: 'ratio-min', value: 0.9 } }),
    makeRow({ metric: `EdgeGallery isZip download ${size}`, unit: 'MiB/s', glintRuns: m.zipDownload.glint, referenceRuns: m.zipDownload.glance, referenceName: 'glint GET /file', goal: { kind: 'ratio-min', value: 0.9 } }),
  ];
}

/** The blob cut into 4 MiB files `1.part` … (the last one shorter), written once per bench run. */
function splitIntoChunks(blob: string, size: number, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const buffer = Buffer.alloc(CHUNK_SIZE);
  const source = openSync(blob, 'r');
  try {
    for (let offset = 0, index = 1; offset < size; offset += CHUNK_SIZE, index++) {
      const length = readSync(source, buffer, 0, Math.min(CHUNK_SIZE, size - offset), offset);
      const file = join(dir, `${index}.part`);
      const target = openSync(file, 'w');
      try {
        writeSync(target, buffer, 0, length);
      } finally {
        closeSync(target);
      }
      files.push(file);
    }
  } finally {
    closeSync(source);
  }
  return files;
}

/** `curl -F` (multipart, the file streamed from disk, no Expect); fails unless HTTP 200. Returns the body and the time. */
async function curlForm(url: string, fields: string[], method = 'POST'): Promise<{ seconds: number; body: string }> {
  const args = ['-sS', '--http1.1', '-X', method, '-H', 'Expect:', '-w', `\n${CURL_FORMAT}`, ...fields.flatMap((field) => ['-F', field]), url];
  const result = await run('/usr/bin/curl', args, { timeoutMs: 1_800_000 });
  const lines = result.stdout.split('\n');
  const [code, total] = (lines.pop() ?? '').split(' ');
  const body = lines.join('\n');
  if (result.code !== 0 || code !== '200') throw new Error(`curl -F ${url}: exit ${result.code}, HTTP ${code}: ${body.slice(0, 300)} ${result.stderr.trim()}`);
  return { seconds: Number(total), body };
}

async function postFile(url: string, blob: string, size: number): Promise<{ rate: number; imageId: string }> {
  const { seconds, body } = await curlForm(url, [`file=@${blob};filename=bench.img;type=application/octet-stream`, 'userId=bench', 'priority=0']);
  return { rate: size / MiB / seconds, imageId: (JSON.parse(body) as { imageId: string }).imageId };
}

async function postChunks(glint: Glint, identifier: string, files: string[], size: number): Promise<Transfer> {
  const started = process.hrtime.bigint();
  const queue = files.map((file, i) => ({ file, index: i + 1 }));
  const post = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { body } = await curlForm(`${glint.url}${BASE}/images/upload`, [`identifier=${identifier}`, 'priority=0', `part=@${next.file};filename=${next.index}.part`]);
      if (body !== 'ok.') throw new Error(`chunk ${next.index}: ${body}`);
    }
  };
  await Promise.all(Array.from({ length: CHUNK_POSTS_AT_ONCE }, post));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { bytes: size, seconds, rate: size / MiB / seconds, status: 200 };
}

async function mergeChunks(glint: Glint, identifier: string, size: number): Promise<{ rate: number; imageId: string }> {
  const { seconds, body } = await curlForm(`${glint.url}${BASE}/images/merge`, [`identifier=${identifier}`, 'filename=bench.img', 'userId=bench', 'priority=0']);
  const reply = JSON.parse(body) as { imageId: string };
  const image = await requestJson('GET', `${glint.url}/v2/images/${reply.imageId}`);
  const merged = image.json as { status?: string; size?: number };
  if (merged.status !== 'active' || merged.size !== size) throw new Error(`merged image ${reply.imageId}: status ${merged.status}, size ${merged.size}`);
  return { rate: size / MiB / seconds, imageId: reply.imageId };
}

/** Waits (up to 2 min) until the check an upload queued has finished, so it does not share the CPU with a measurement. */
async function checkFinished(glint: Glint, imageId: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const res = await requestJson('GET', `${glint.url}${BASE}/images/${imageId}`);
    const status = (res.json as { checkStatusResponse?: { status?: number } } | null)?.checkStatusResponse?.status;
    if (res.status === 200 && status !== 4) return;
    await sleep(250);
  }
}

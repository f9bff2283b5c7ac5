import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { clientEnv, freePort, startGlintProcess, type GlintProcess } from '../support/process';
import { s3AdminClient, startS3Server, type S3TestServer } from '../support/s3';
import { randomData } from '../support/random-data';

/**
 * The real clients (python-glanceclient's `glance`, python-openstackclient's `openstack`,
 * openstacksdk) against a glint process started as an operator would, with two stores: `fast`
 * (filesystem, default) and `cold` (S3, served by s3rver). The clients run unchanged from the
 * distribution packages (.ci/install-system-packages.sh installs them); every failure reports the
 * client's stderr and the requests glint logged.
 */

const CLIENT_TIMEOUT_MS = 120_000;
const S3_BUCKET = 'glint-cold';

interface Run {
  stdout: string;
  stderr: string;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const sha512 = (data: Buffer) => createHash('sha512').update(data).digest('hex');

/** A python3 that can import openstacksdk (the distribution's, not a virtualenv's). */
function findSdkPython(): string | null {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(candidate, ['-c', 'import openstack'], { stdio: 'ignore', timeout: 60_000 });
    if (probe.status === 0) return candidate;
  }
  return null;
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Parses glanceclient's `| Property | Value |` table into a record (wrapped values joined). */
function parseTable(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last: string | null = null;
  for (const line of text.split('\n')) {
    const match = /^\|\s(.*?)\s*\|\s(.*?)\s*\|$/.exec(line);
    if (!match) continue;
    const [, key, value] = match;
    if (key === 'Property' && value === 'Value') continue;
    if (key === '' && last) out[last] += value;
    else {
      out[key] = value;
      last = key;
    }
  }
  return out;
}

describe('real OpenStack clients against a running glint (glanceclient, openstackclient, openstacksdk)', function () {
  this.timeout(CLIENT_TIMEOUT_MS * 2);

  let dir: string;
  let s3: S3TestServer;
  let glint: GlintProcess;
  let url: string;
  let python: string;
  let qcow2: string;
  let raw: string;
  let rawData: Buffer;
  let homes = 0;

  /** Each run gets a fresh HOME: see the note on glanceclient's schema cache in `glance()`. */
  function freshHome(): string {
    return mkdtempSync(path.join(dir, `home-${homes++}-`));
  }

  /** Runs a client; rejects with its output and glint's recent requests unless it exits 0. */
  function run(command: string, args: string[], options: { stdinFile?: string } = {}): Promise<Run> {
    const stdin = options.stdinFile ? openSync(options.stdinFile, 'r') : 'ignore';
    return new Promise<Run>((resolve, reject) => {
      const child = spawn(command, args, { cwd: dir, env: clientEnv(freshHome()), stdio: [stdin, 'pipe', 'pipe'] });
      if (typeof stdin === 'number') closeSync(stdin);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), CLIENT_TIMEOUT_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve({ stdout, stderr });
        const requests = glint.output().trim().split('\n').slice(-15).join('\n');
        reject(
          new Error(
            `${command} ${args.join(' ')} exited with ${code ?? signal}\n--- stderr\n${stderr}\n--- stdout\n${stdout}\n--- last requests glint logged\n${requests}`,
          ),
        );
      });
    });
  }

  /**
   * python-glanceclient with an endpoint and a token, as an operator scripts it. glanceclient 4.1
   * builds `image-create-via-import`'s options from the cached image schema, whose `stores`
   * property collides with that command's own `--stores` (argparse "conflicting option string");
   * with --os-image-url the cache lives right in ~/.glanceclient where the shell reads it back,
   * so every call after the first would fail — against Glance too, whose schema has `stores`.
   * A fresh HOME per call (run()) keeps every call a first call.
   */
  function glance(...args: string[]): Promise<Run> {
    return run('glance', ['--os-image-url', url, '--os-auth-token', 'dummy', ...args]);
  }

  function openstack(...args: string[]): Promise<Run> {
    return run('openstack', ['--os-auth-type', 'none', '--os-endpoint', url, ...args]);
  }

  async function glanceShow(id: string): Promise<Record<string, string>> {
    return parseTable((await glance('image-show', '--max-column-width', '1000', id)).stdout);
  }

  async function openstackShow(nameOrId: string): Promise<Record<string, unknown>> {
    return JSON.parse((await openstack('image', 'show', '-f', 'json', nameOrId)).stdout) as Record<string, unknown>;
  }

  before(async function () {
    const missing = ['glance', 'openstack', 'qemu-img'].filter((c) => !onPath(c));
    const sdkPython = findSdkPython();
    if (!sdkPython) missing.push('python3 module openstack (openstacksdk)');
    if (missing.length > 0) {
      throw new Error(`missing client tools: ${missing.join(', ')}; run .ci/install-system-packages.sh`);
    }
    python = sdkPython as string;

    dir = mkdtempSync(path.join(tmpdir(), 'glint-clients-'));
    s3 = await startS3Server();
    const port = await freePort();
    const conf = path.join(dir, 'glance-api.conf');
    writeFileSync(
      conf,
      [
        '[DEFAULT]',
        'bind_host = 127.0.0.1',
        `bind_port = ${port}`,
        'enabled_backends = fast:file, cold:s3',
        '[database]',
        `connection = sqlite:///${path.join(dir, 'glint.db')}`,
        '[glance_store]',
        'default_backend = fast',
        '[fast]',
        'description = Local disk',
        `filesystem_store_datadir = ${path.join(dir, 'fast')}`,
        '[cold]',
        'description = S3 archive',
        `s3_store_host = ${s3.endpoint}`,
        `s3_store_region_name = ${s3.region}`,
        `s3_store_access_key = ${s3.accessKey}`,
        `s3_store_secret_key = ${s3.secretKey}`,
        `s3_store_bucket = ${S3_BUCKET}`,
        's3_store_create_bucket_on_put = true',
        's3_store_bucket_url_format = path',
        's3_store_checksum_mode = when_required',
        '',
      ].join('\n'),
    );
    glint = await startGlintProcess(['--config-file', conf], { cwd: dir, port });
    url = glint.url;

    qcow2 = path.join(dir, 'disk.qcow2');
    await run('qemu-img', ['create', '-f', 'qcow2', qcow2, '64M']);
    raw = path.join(dir, 'random.raw');
    rawData = randomData(3 * 1024 * 1024 + 4321);
    writeFileSync(raw, rawData);
  });

  after(async function () {
    await glint?.stop();
    await s3?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('glance (python-glanceclient)', function () {
    it('image-create --file uploads a qcow2 (chunked); image-show has its md5, sha512 and virtual size', async function () {
      const data = readFileSync(qcow2);
      const created = parseTable((await glance('image-create', '--name', 'q', '--disk-format', 'qcow2', '--container-format', 'bare', '--file', qcow2)).stdout);
      assert.equal(created.status, 'active');
      const shown = await glanceShow(created.id);
      assert.equal(shown.checksum, md5(data));
      assert.equal(shown.os_hash_algo, 'sha512');
      assert.equal(shown.os_hash_value, sha512(data));
      assert.equal(shown.size, String(data.length));
      assert.equal(shown.virtual_size, String(64 * 1024 * 1024));
      assert.equal(shown.stores, 'fast');
    });

    it('image-create --file uploads random raw data; image-download returns the same bytes', async function () {
      const created = parseTable((await glance('image-create', '--name', 'r', '--disk-format', 'raw', '--container-format', 'bare', '--file', raw)).stdout);
      const shown = await glanceShow(created.id);
      assert.equal(shown.checksum, md5(rawData));
      assert.equal(shown.os_hash_value, sha512(rawData));
      assert.equal(shown.virtual_size, String(rawData.length));
      const out = path.join(dir, 'glance-download.raw');
      await glance('image-download', '--file', out, created.id);
      assert.ok(readFileSync(out).equals(rawData), 'downloaded bytes differ');
    });

    it('image-create --store cold writes the data to the S3 store; stores-info lists both stores', async function () {
      const created = parseTable((await glance('image-create', '--name', 'cold', '--disk-format', 'raw', '--container-format', 'bare', '--store', 'cold', '--file', raw)).stdout);
      const shown = await glanceShow(created.id);
      assert.equal(shown.status, 'active');
      assert.equal(shown.stores, 'cold');
      assert.equal(shown.os_hash_value, sha512(rawData));

      const client = s3AdminClient(s3);
      try {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: S3_BUCKET }));
        const object = (listed.Contents ?? []).find((o) => o.Key?.includes(created.id));
        assert.ok(object, `no object for ${created.id} in bucket ${S3_BUCKET}`);
        assert.equal(object.Size, rawData.length);
      } finally {
        client.destroy();
      }

      const stores = parseTable((await glance('stores-info')).stdout);
      assert.deepEqual(JSON.parse(stores.stores), [{ id: 'fast', description: 'Local disk', default: 'true' }, { id: 'cold', description: 'S3 archive' }]);
    });

    it('image-create-via-import (glance-direct, data on stdin) stages, imports into cold and becomes active', async function () {
      const created = parseTable(
        (
          await run('glance', ['--os-image-url', url, '--os-auth-token', 'dummy', 'image-create-via-import', '--name', 'imported', '--disk-format', 'raw', '--container-format', 'bare', '--import-method', 'glance-direct', '--stores', 'cold'], {
            stdinFile: raw,
          })
        ).stdout,
      );
      const deadline = Date.now() + 60_000;
      let shown = await glanceShow(created.id);
      while (shown.status !== 'active' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        shown = await glanceShow(created.id);
      }
      assert.equal(shown.status, 'active');
      assert.equal(shown.stores, 'cold');
      assert.equal(shown.checksum, md5(rawData));
      assert.equal(shown.os_glance_failed_import, '');
    });
  });

  describe('openstack (python-openstackclient)', function () {
    const name = 'osc-image';
    let id: string;

    it('image create --file uploads; image show -f json reports the md5 and sha512 of the file', async function () {
      const created = JSON.parse((await openstack('image', 'create', '--file', raw, '--disk-format', 'raw', '-f', 'json', name)).stdout) as Record<string, unknown>;
      id = created.id as string;
      const shown = await openstackShow(name);
      assert.equal(shown.id, id);
      assert.equal(shown.status, 'active');
      assert.equal(shown.checksum, md5(rawData));
      assert.equal(shown.size, rawData.length);
      const properties = shown.properties as Record<string, unknown>;
      assert.equal(properties.os_hash_value, sha512(rawData));
    });

    it('image list -f json includes it', async function () {
      const listed = JSON.parse((await openstack('image', 'list', '-f', 'json')).stdout) as Array<Record<string, unknown>>;
      assert.ok(listed.some((row) => row.ID === id && row.Name === name && row.Status === 'active'), JSON.stringify(listed));
    });

    it('image save --file writes the same bytes (the SDK checks them against Content-MD5)', async function () {
      const out = path.join(dir, 'osc-save.raw');
      await openstack('image', 'save', '--file', out, name);
      assert.ok(readFileSync(out).equals(rawData), 'saved bytes differ');
    });

    it('image set --tag and --property add tags and a custom property', async function () {
      await openstack('image', 'set', '--tag', 'first', '--tag', 'second', '--property', 'os_distro=debian', name);
      const shown = await openstackShow(name);
      assert.deepEqual([...(shown.tags as string[])].sort(), ['first', 'second']);
      assert.equal((shown.properties as Record<string, unknown>).os_distro, 'debian');
    });

    it('image set --deactivate / --activate toggle the status', async function () {
      await openstack('image', 'set', '--deactivate', name);
      assert.equal((await openstackShow(name)).status, 'deactivated');
      await openstack('image', 'set', '--activate', name);
      assert.equal((await openstackShow(name)).status, 'active');
    });

    it('image create --import stages the file and imports it (glance-direct) until active', async function () {
      const created = JSON.parse((await openstack('image', 'create', '--import', '--file', raw, '--disk-format', 'raw', '-f', 'json', 'osc-imported')).stdout) as Record<string, unknown>;
      const deadline = Date.now() + 60_000;
      let shown = await openstackShow(created.id as string);
      while (shown.status !== 'active' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        shown = await openstackShow(created.id as string);
      }
      assert.equal(shown.status, 'active');
      assert.equal(shown.checksum, md5(rawData));
      assert.equal((shown.properties as Record<string, unknown>).stores, 'fast');
    });

    it('image delete removes it', async function () {
      await openstack('image', 'delete', name);
      const listed = JSON.parse((await openstack('image', 'list', '-f', 'json')).stdout) as Array<Record<string, unknown>>;
      assert.ok(!listed.some((row) => row.ID === id), 'still listed after delete');
      await assert.rejects(openstack('image', 'show', id), /No Image found|Could not find|404/);
    });
  });

  describe('openstacksdk', function () {
    it('create_image(filename=…, wait=True) then download_image returns the same bytes', async function () {
      const script = [
        'import json, sys',
        'import openstack',
        'endpoint, name, source, target = sys.argv[1:5]',
        "conn = openstack.connection.Connection(auth_type='none', auth={'endpoint': endpoint})",
        "image = conn.create_image(name, filename=source, disk_format='raw', container_format='bare', wait=True)",
        'conn.download_image(image.id, output_file=target)',
        'shown = conn.image.get_image(image.id)',
        "print(json.dumps({'id': shown.id, 'status': shown.status, 'checksum': shown.checksum, 'hash': shown.hash_value, 'size': shown.size}))",
      ].join('\n');
      const scriptFile = path.join(dir, 'sdk_roundtrip.py');
      writeFileSync(scriptFile, `${script}\n`);
      const out = path.join(dir, 'sdk-download.raw');
      const result = await run(python, [scriptFile, url, 'sdk-image', raw, out]);
      const summary = JSON.parse(result.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
      assert.equal(summary.status, 'active');
      assert.equal(summary.checksum, md5(rawData));
      assert.equal(summary.hash, sha512(rawData));
      assert.equal(summary.size, rawData.length);
      assert.ok(readFileSync(out).equals(rawData), 'downloaded bytes differ');
    });
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { buildApp, type BuildOptions, type GlintApp } from '../../src/app';
import { loadConfig } from '../../src/config/load';
import type { GlintConfig } from '../../src/config/types';
import { createLogger } from '../../src/lib/logger';

export interface TestApp {
  app: GlintApp;
  config: GlintConfig;
  http: TestAgent;
  dir: string;
  close(): Promise<void>;
}

/**
 * A real glint on in-memory SQLite with stores in a temp folder, built from an INI text exactly
 * as an operator would write it. `ini` may use {dir} for the temp folder.
 */
export async function startTestApp(ini = '', env: Record<string, string> = {}, options: BuildOptions = {}): Promise<TestApp> {
  const dir = mkdtempSync(path.join(tmpdir(), 'glint-test-'));
  const file = path.join(dir, 'glint.conf');
  writeFileSync(file, ini.replace(/\{dir\}/g, dir));
  const config = loadConfig({
    file,
    baseDir: dir,
    env: { GLINT_DATABASE_CONNECTION: 'sqlite://', ...env },
    warn: () => {},
  });
  const app = await buildApp(config, { logger: createLogger({ silent: true }), accessLog: null, ...options });
  const server = app.koa.callback();
  return {
    app,
    config,
    http: request.agent(server),
    dir,
    async close() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Identity headers for the trusted-auth flavour. The tests built on TRUSTED send a role or two
 * (`member`, `admin`) without the implied ones a Keystone token carries, and assert Glance's
 * legacy owner/admin rules; TRUSTED therefore turns the secure-RBAC defaults off. The RBAC tests
 * (test/api/glance-v2/rbac*.test.ts) use TRUSTED_RBAC, Glance's default.
 */
export function as(project: string, roles = 'member', user = `user-${project}`): Record<string, string> {
  return { 'X-Identity-Status': 'Confirmed', 'X-Project-Id': project, 'X-Roles': roles, 'X-User-Id': user };
}

export const TRUSTED_RBAC = '[paste_deploy]\nflavor = trusted-auth\n';
export const TRUSTED = `${TRUSTED_RBAC}[oslo_policy]\nenforce_new_defaults = false\n`;

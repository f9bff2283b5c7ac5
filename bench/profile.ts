/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): self time aggregated by
 * function + url:line, and by module (a node_modules package, a node: internal, or a file of glint).
 *
 *   npx tsx bench/profile.ts file.cpuprofile [top]
 *   npx tsx bench/profile.ts file.cpuprofile --callers <function name> [depth]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyMs: number;
  idleMs: number;
  functions: ProfileEntry[];
  modules: ProfileEntry[];
}

const ROOT = process.cwd();

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  if (path.startsWith('/')) return relative(ROOT, path);
  return path;
}

function moduleOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native/builtin)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (path.startsWith('node:')) return path.split('/').slice(0, 2).join('/');
  return shortUrl(url);
}

/**
 * `window` (µs of CLOCK_MONOTONIC, the clock of both V8's profile timestamps and
 * `process.hrtime`) keeps only the samples taken inside it, e.g. to leave start-up out.
 */
export function summarizeProfile(file: string, top = 20, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // sample i lasted until sample i+1 (timeDeltas[i+1])
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const next = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + Math.max(0, next));
  }
  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    total += us;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const where = frame.url ? ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const mod = moduleOf(frame);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (map: Map<string, number>, n: number): ProfileEntry[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, percent: busy > 0 ? (100 * us) / busy : 0 }));
  return { file, totalMs: total / 1000, busyMs: busy / 1000, idleMs: idle / 1000, functions: rank(functions, top), modules: rank(modules, 12) };
}

export function renderProfile(summary: ProfileSummary, title: string): string {
  const lines = [
    `--- ${title}: ${summary.file}`,
    `    ${(summary.totalMs / 1000).toFixed(1)} s of samples, busy ${(summary.busyMs / 1000).toFixed(1)} s (main thread), idle ${(summary.idleMs / 1000).toFixed(1)} s`,
    '    self time by function:',
    ...summary.functions.map((e) => `    ${e.percent.toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`),
    '    self time by module:',
    ...summary.modules.map((e) => `    ${e.percent.toFixed(1).padStart(5)} %  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`),
  ];
  return lines.join('\n');
}

/** Who calls `name`: its self time grouped by the `depth` frames above it. */
export function callersOf(file: string, name: string, depth = 6, top = 10): Array<{ stack: string; ms: number }> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (frame: CallFrame) => `${frame.functionName || '(anonymous)'}${frame.url ? ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : ''}`;
  const stacks = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const leaf = byId.get(profile.samples[i]) as ProfileNode;
    if (leaf.callFrame.functionName !== name) continue;
    const frames: string[] = [];
    for (let id = parent.get(leaf.id); id !== undefined && frames.length < depth; id = parent.get(id)) frames.push(label((byId.get(id) as ProfileNode).callFrame));
    const key = frames.join('  <  ');
    const us = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    stacks.set(key, (stacks.get(key) ?? 0) + us);
  }
  return [...stacks.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([stack, us]) => ({ stack, ms: us / 1000 }));
}

if (require.main === module) {
  const [file, second, third, fourth] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: tsx bench/profile.ts file.cpuprofile [top] | --callers <function> [depth]\n');
    process.exit(2);
  }
  if (second === '--callers') {
    for (const entry of callersOf(file, third, Number(fourth ?? 6))) process.stdout.write(`${entry.ms.toFixed(0).padStart(7)} ms  ${entry.stack}\n`);
  } else {
    process.stdout.write(`${renderProfile(summarizeProfile(file, Number(second ?? 25)), 'profile')}\n`);
  }
}

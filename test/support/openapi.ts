import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { parse } from 'yaml';

/**
 * Checks HTTP responses against an OpenAPI 3.1 document of api-spec/ (`openApiChecker`); the
 * top-level exports check api-spec/glance-v2.yaml.
 *
 * `assertMatchesSpec` finds the operation for a method and a concrete or templated path, then
 * requires that the status is documented for it, that every required header is present, that
 * documented headers have values matching their schemas, that the Content-Type is one the
 * response documents (or that the body is empty when it documents none), and that a JSON body
 * validates against the response schema. A method the path does not document may only answer
 * with the document's `x-method-not-allowed` response (405 + Allow).
 */

export const SPEC_FILE = path.resolve(__dirname, '../../api-spec/glance-v2.yaml');

type Json = Record<string, unknown>;
export type ResponseHeaders = Record<string, string | string[] | number | undefined>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface Route {
  template: string;
  pattern: RegExp;
  /** Number of templated segments; literal routes win over templated ones. */
  params: number;
  item: Json;
}

interface LoadedSpec {
  document: Json;
  routes: Route[];
  ajv: Ajv2020;
  validators: Map<unknown, ValidateFunction>;
  covered: Set<string>;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    return Array.isArray(value) ? value.join(', ') : String(value);
  }
  return undefined;
}

function isEmptyBody(body: unknown): boolean {
  if (body === undefined || body === null || body === '') return true;
  if (Buffer.isBuffer(body)) return body.length === 0;
  // supertest reports an absent body as {}
  return typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0;
}

function coerceHeader(value: string, schema: Json): unknown {
  const type = schema.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

function describeBody(body: unknown): string {
  const text = Buffer.isBuffer(body) ? `<${body.length} bytes>` : typeof body === 'string' ? body : JSON.stringify(body);
  return text === undefined ? 'undefined' : text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/** A checker for one OpenAPI document; each keeps its own coverage. */
export interface OpenApiChecker {
  findRoute(routePath: string): Route | null;
  assertMatchesSpec(method: string, routePath: string, status: number, responseHeaders: ResponseHeaders, body: unknown): void;
  documentedOperations(): string[];
  coveredResponses(): string[];
  uncoveredOperations(): string[];
  compileAllSchemas(): number;
}

/** Checks responses against `specFile` (an OpenAPI 3.1 document under api-spec/). */
export function openApiChecker(specFile: string): OpenApiChecker {
  const SPEC_FILE = specFile;
  const SCHEMA_ID = path.basename(specFile);
  let loaded: LoadedSpec | null = null;

  function spec(): LoadedSpec {
    if (loaded) return loaded;
    const document = parse(readFileSync(SPEC_FILE, 'utf8'), { maxAliasCount: -1 }) as Json;
    const components = (document.components ?? {}) as Json;
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
    // OpenAPI's #/components/schemas/X becomes #/$defs/X of one registered schema.
    ajv.addSchema({ $id: SCHEMA_ID, $defs: rewriteRefs(components.schemas ?? {}) as Json });
    const routes = Object.entries((document.paths ?? {}) as Record<string, Json>).map(([template, item]) => {
      const source = template
        .split('/')
        .map((segment) => (/^\{[^}]+\}$/.test(segment) ? '[^/]+' : escapeRegExp(segment)))
        .join('/');
      return { template, pattern: new RegExp(`^${source}$`), params: (template.match(/\{/g) ?? []).length, item };
    });
    routes.sort((a, b) => a.params - b.params);
    loaded = { document, routes, ajv, validators: new Map(), covered: new Set() };
    return loaded;
  }

  function rewriteRefs(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(rewriteRefs);
    if (value === null || typeof value !== 'object') return value;
    const out: Json = {};
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
        out[key] = `${SCHEMA_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`;
      } else {
        out[key] = rewriteRefs(v);
      }
    }
    return out;
  }

  /** Follows an OpenAPI (non-schema) `$ref` such as #/components/responses/NotFound. */
  function deref<T = Json>(value: unknown): T {
    let current = value as Json;
    for (let hops = 0; current && typeof current.$ref === 'string'; hops++) {
      if (hops > 10) throw new Error(`reference loop at ${String(current.$ref)}`);
      const ref = current.$ref as string;
      if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
      let target: unknown = spec().document;
      for (const part of ref.slice(2).split('/')) {
        target = (target as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
      }
      if (target === undefined) throw new Error(`unresolved reference ${ref}`);
      current = target as Json;
    }
    return current as T;
  }

  function validator(schema: unknown): ValidateFunction {
    const { ajv, validators } = spec();
    let validate = validators.get(schema);
    if (!validate) {
      validate = ajv.compile(rewriteRefs(schema) as Json);
      validators.set(schema, validate);
    }
    return validate;
  }

  /** The route template of `routePath` (a concrete path, optionally with a query, or a template). */
  function findRoute(routePath: string): Route | null {
    const bare = routePath.split('?')[0];
    const { routes } = spec();
    return routes.find((r) => r.template === bare) ?? routes.find((r) => r.pattern.test(bare)) ?? null;
  }

  /**
   * Throws an AssertionError listing every way the response departs from the spec.
   * `body`: the parsed JSON (supertest's `res.body`), or the raw text/Buffer for other types.
   */
  function assertMatchesSpec(method: string, routePath: string, status: number, responseHeaders: ResponseHeaders, body: unknown): void {
    const where = `${method.toUpperCase()} ${routePath} → ${status}`;
    const route = findRoute(routePath);
    if (!route) assert.fail(`${where}: path is not documented in ${path.basename(SPEC_FILE)}`);
    const lower = method.toLowerCase();
    const operation = METHODS.includes(lower as (typeof METHODS)[number]) ? (route.item[lower] as Json | undefined) : undefined;

    let response: Json;
    let key: string;
    if (operation) {
      const responses = (operation.responses ?? {}) as Json;
      const entry = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
      if (!entry) {
        assert.fail(`${where}: status ${status} is not documented for ${lower} ${route.template} (documented: ${Object.keys(responses).join(', ')})\nbody: ${describeBody(body)}`);
      }
      response = deref(entry);
      key = `${lower.toUpperCase()} ${route.template}`;
    } else {
      const fallback = spec().document['x-method-not-allowed'];
      if (status !== 405 || !fallback) {
        assert.fail(`${where}: ${lower} is not documented for ${route.template}; only 405 is allowed\nbody: ${describeBody(body)}`);
      }
      response = deref(fallback);
      key = `${lower.toUpperCase()} ${route.template} (405)`;
    }
    spec().covered.add(`${key} ${status}`);

    const problems: string[] = [];

    for (const [name, rawHeader] of Object.entries((response.headers ?? {}) as Json)) {
      const header = deref(rawHeader);
      const value = headerValue(responseHeaders, name);
      if (value === undefined) {
        if (header.required) problems.push(`required header ${name} is missing`);
        continue;
      }
      if (header.schema) {
        const validate = validator(header.schema);
        if (!validate(coerceHeader(value, deref(header.schema)))) {
          problems.push(`header ${name}: ${JSON.stringify(value)} ${spec().ajv.errorsText(validate.errors)}`);
        }
      }
    }

    const contentType = headerValue(responseHeaders, 'content-type');
    const content = response.content as Record<string, Json> | undefined;
    if (!content || Object.keys(content).length === 0) {
      if (!isEmptyBody(body)) problems.push(`no body is documented, got ${contentType ?? 'no Content-Type'}: ${describeBody(body)}`);
    } else if (!contentType) {
      problems.push(`Content-Type missing; documented: ${Object.keys(content).join(', ')}`);
    } else {
      const mediaType = contentType.split(';')[0].trim().toLowerCase();
      const documented = content[mediaType];
      if (!documented) {
        problems.push(`Content-Type ${mediaType} is not documented (documented: ${Object.keys(content).join(', ')})`);
      } else if (documented.schema) {
        let value: unknown = body;
        const isJson = mediaType === 'application/json' || mediaType.endsWith('+json');
        if (isJson && (typeof body === 'string' || Buffer.isBuffer(body))) {
          try {
            value = JSON.parse(body.toString());
          } catch {
            problems.push(`body is not JSON: ${describeBody(body)}`);
            value = undefined;
          }
        } else if (!isJson && Buffer.isBuffer(body)) {
          value = mediaType.startsWith('text/') ? body.toString('utf8') : undefined;
        }
        const binary = mediaType === 'application/octet-stream';
        if (value !== undefined && !binary) {
          const validate = validator(documented.schema);
          if (!validate(value)) {
            const errors = (validate.errors ?? []).map((e) => `  ${e.instancePath || '(root)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
            problems.push(`body does not match the ${mediaType} schema:\n${errors.join('\n')}`);
          }
        }
      }
    }

    if (problems.length > 0) {
      assert.fail(`${where} does not match ${path.basename(SPEC_FILE)} (${key}):\n- ${problems.join('\n- ')}\nbody: ${describeBody(body)}`);
    }
  }

  /** `METHOD /template` for every documented operation. */
  function documentedOperations(): string[] {
    const out: string[] = [];
    for (const route of spec().routes) {
      for (const method of METHODS) if (route.item[method]) out.push(`${method.toUpperCase()} ${route.template}`);
    }
    return out;
  }

  /** `METHOD /template STATUS` for every response checked so far in this process. */
  function coveredResponses(): string[] {
    return [...spec().covered].sort();
  }

  /** Documented operations no checked response has exercised yet. */
  function uncoveredOperations(): string[] {
    const covered = coveredResponses();
    return documentedOperations().filter((op) => !covered.some((c) => c.startsWith(`${op} `)));
  }

  /** Compiles every header and body schema of every documented response; throws on the first bad one. */
  function compileAllSchemas(): number {
    let count = 0;
    const compileResponse = (response: Json) => {
      for (const header of Object.values((response.headers ?? {}) as Json)) {
        const schema = deref(header).schema;
        if (!schema) continue;
        validator(schema);
        count++;
      }
      for (const media of Object.values((response.content ?? {}) as Record<string, Json>)) {
        if (!media.schema) continue;
        validator(media.schema);
        count++;
      }
    };
    for (const route of spec().routes) {
      for (const method of METHODS) {
        const operation = route.item[method] as Json | undefined;
        for (const response of Object.values((operation?.responses ?? {}) as Json)) compileResponse(deref(response));
      }
    }
    const fallback = spec().document['x-method-not-allowed'];
    if (fallback) compileResponse(deref(fallback));
    return count;
  }

  return { findRoute, assertMatchesSpec, documentedOperations, coveredResponses, uncoveredOperations, compileAllSchemas };
}

const glanceV2 = openApiChecker(SPEC_FILE);
export const { findRoute, assertMatchesSpec, documentedOperations, coveredResponses, uncoveredOperations, compileAllSchemas } = glanceV2;

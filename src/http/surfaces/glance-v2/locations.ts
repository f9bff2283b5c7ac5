import type Router from '@koa/router';
import type { Context } from 'koa';
import type { RequestContext } from '../../../domain/context';
import { fail } from '../../../domain/errors';
import type { LocationOperation, LocationValue } from '../../../domain/locations/location-editor';
import type { ValidationData } from '../../../domain/locations/validation-data';
import type { Services } from '../../../domain/services';
import { readJsonObject } from '../../body';
import { rejectBody } from './body-rules';
import type { PatchOperation } from './image-request';

/**
 * Image locations on the Glance surface: `POST` and `GET /v2/images/{id}/locations` (Image API
 * 2.17), and the body rules of the PATCH operations on `/locations` (Glance's image schema).
 */
export function addLocationRoutes(router: Router, services: Services, idParam: (ctx: Context) => string): void {
  const who = (ctx: Context) => (ctx.state as { requestContext: RequestContext }).requestContext;

  router.post('/v2/images/:id/locations', async (ctx) => {
    const { url, validationData } = parseAddLocation(await readJsonObject(ctx));
    await services.locations.addLocation(who(ctx), idParam(ctx), url, validationData);
    // body first: Koa turns a null body into 204 unless the status is set afterwards
    ctx.body = null;
    ctx.status = 202;
  });

  router.get('/v2/images/:id/locations', async (ctx) => {
    rejectBody(ctx);
    const locations = await services.locations.listLocations(who(ctx), idParam(ctx));
    ctx.status = 200;
    ctx.set('Content-Type', 'application/json');
    ctx.body = JSON.stringify(locations);
  });
}

const HASH_ALGORITHMS = ['sha1', 'sha256', 'sha512', 'md5'];

const invalid = (message: string): never => fail('BAD_REQUEST', `Provided object does not match schema 'add_location': ${message}`);

/** The body of `POST .../locations`, held to Glance's add_location schema (400). */
export function parseAddLocation(body: Record<string, unknown>): { url: string; validationData: ValidationData } {
  if (!('url' in body)) invalid("'url' is a required property");
  if (typeof body.url !== 'string') invalid(`${JSON.stringify(body.url)} is not of type 'string'`);
  const raw = body.validation_data ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) invalid(`${JSON.stringify(raw)} is not of type 'object'`);
  const data = raw as Record<string, unknown>;
  for (const key of Object.keys(data)) {
    if (key !== 'os_hash_algo' && key !== 'os_hash_value') invalid(`Additional properties are not allowed ('${key}' was unexpected)`);
  }
  const { os_hash_algo: algo, os_hash_value: value } = data;
  if (algo !== undefined && (typeof algo !== 'string' || !HASH_ALGORITHMS.includes(algo))) invalid(`${JSON.stringify(algo)} is not one of ${JSON.stringify(HASH_ALGORITHMS)}`);
  if (value !== undefined && (typeof value !== 'string' || value.length > 128)) invalid(`${JSON.stringify(value)} is not a string of at most 128 characters`);
  if ((algo === undefined) !== (value === undefined)) invalid(algo === undefined ? "'os_hash_algo' is a dependency of 'os_hash_value'" : "'os_hash_value' is a dependency of 'os_hash_algo'");
  const validationData: ValidationData = {};
  if (typeof algo === 'string') validationData.os_hash_algo = algo;
  if (typeof value === 'string') validationData.os_hash_value = value;
  return { url: body.url as string, validationData };
}

/** Splits a PATCH document into its `/locations` operations (shape-checked) and the others. */
export function splitLocationOperations(operations: PatchOperation[]): { locations: LocationOperation[]; others: PatchOperation[] } {
  const locations: LocationOperation[] = [];
  const others: PatchOperation[] = [];
  for (const op of operations) {
    if (op.name !== 'locations') {
      others.push(op);
      continue;
    }
    if (op.op === 'remove') locations.push({ op: 'remove', position: op.position ?? '' });
    else if (op.op === 'add') locations.push({ op: 'add', position: op.position ?? '', value: locationValue(op.value) });
    else {
      if (!Array.isArray(op.value)) patchInvalid(`${JSON.stringify(op.value)} is not of type 'array'`);
      locations.push({ op: 'replace', value: (op.value as unknown[]).map(locationValue) });
    }
  }
  return { locations, others };
}

const patchInvalid = (message: string): never => fail('BAD_REQUEST', `Provided object does not match schema 'image': ${message}`);

/** One location of a PATCH value, held to the `locations` items of Glance's image schema. */
function locationValue(raw: unknown): LocationValue {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) patchInvalid(`${JSON.stringify(raw)} is not of type 'object'`);
  const item = raw as Record<string, unknown>;
  if (!('url' in item)) patchInvalid("'url' is a required property");
  if (!('metadata' in item)) patchInvalid("'metadata' is a required property");
  if (typeof item.url !== 'string') patchInvalid(`${JSON.stringify(item.url)} is not of type 'string'`);
  if ((item.url as string).length > 255) patchInvalid(`'${item.url as string}' is too long`);
  const metadata = item.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) patchInvalid(`${JSON.stringify(metadata)} is not of type 'object'`);
  const value: LocationValue = { url: item.url as string, metadata: metadata as Record<string, unknown> };
  if ('validation_data' in item) value.validationData = patchValidationData(item.validation_data);
  return value;
}

function patchValidationData(raw: unknown): ValidationData {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) patchInvalid(`${JSON.stringify(raw)} is not of type 'object'`);
  const data = raw as Record<string, unknown>;
  const limits: Record<string, [number, number]> = { checksum: [32, 32], os_hash_algo: [0, 64], os_hash_value: [0, 128] };
  for (const [key, value] of Object.entries(data)) {
    const bounds = limits[key];
    if (!bounds) patchInvalid(`Additional properties are not allowed ('${key}' was unexpected)`);
    if (typeof value !== 'string') patchInvalid(`${JSON.stringify(value)} is not of type 'string'`);
    if ((value as string).length < bounds[0] || (value as string).length > bounds[1]) patchInvalid(`'${value as string}' has the wrong length for ${key}`);
  }
  for (const key of ['os_hash_algo', 'os_hash_value']) if (!(key in data)) patchInvalid(`'${key}' is a required property`);
  return data as ValidationData;
}

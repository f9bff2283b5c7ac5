/**
 * One pass through every /v2/metadefs operation, for the OpenAPI conformance test: `call` sends a
 * request (and checks the answer against the document); `expect` asserts its status.
 */
export type MetadefsCall<G> = (method: 'get' | 'post' | 'put' | 'delete', url: string, json?: unknown) => Promise<G>;

export async function exerciseMetadefs<G>(call: MetadefsCall<G>, expect: (got: G, status: number) => void): Promise<void> {
  const ns = '/v2/metadefs/namespaces/OS::Conformance';
  expect(await call('post', '/v2/metadefs/namespaces', { namespace: 'OS::Conformance', display_name: 'Conformance', visibility: 'public' }), 201);
  expect(await call('post', '/v2/metadefs/namespaces', { namespace: 'OS::Conformance' }), 409);
  expect(await call('get', '/v2/metadefs/namespaces?limit=5'), 200);
  expect(await call('get', ns), 200);
  expect(await call('put', ns, { namespace: 'OS::Conformance', visibility: 'public', description: 'every operation once' }), 200);
  expect(await call('get', '/v2/metadefs/namespaces/OS::Missing'), 404);

  expect(await call('post', `${ns}/objects`, { name: 'cpu', properties: { cores: { type: 'integer', title: 'Cores' } } }), 201);
  expect(await call('get', `${ns}/objects`), 200);
  expect(await call('get', `${ns}/objects/cpu`), 200);
  expect(await call('put', `${ns}/objects/cpu`, { name: 'cpu', description: 'processor' }), 200);
  expect(await call('delete', `${ns}/objects/cpu`), 204);
  expect(await call('post', `${ns}/objects`, { name: 'disk' }), 201);
  expect(await call('delete', `${ns}/objects`), 204);

  expect(await call('post', `${ns}/properties`, { name: 'hw_rng', type: 'string', title: 'RNG' }), 201);
  expect(await call('get', `${ns}/properties`), 200);
  expect(await call('get', `${ns}/properties/hw_rng`), 200);
  expect(await call('put', `${ns}/properties/hw_rng`, { name: 'hw_rng', type: 'string', title: 'Random numbers' }), 200);
  expect(await call('delete', `${ns}/properties/hw_rng`), 204);
  expect(await call('post', `${ns}/properties`, { name: 'hw_video', type: 'string', title: 'Video' }), 201);
  expect(await call('delete', `${ns}/properties`), 204);

  expect(await call('post', `${ns}/tags`, { tags: [{ name: 'fast' }, { name: 'cheap' }] }), 201);
  expect(await call('post', `${ns}/tags/gpu`), 201);
  expect(await call('get', `${ns}/tags`), 200);
  expect(await call('get', `${ns}/tags/gpu`), 200);
  expect(await call('put', `${ns}/tags/gpu`, { name: 'graphics' }), 200);
  expect(await call('delete', `${ns}/tags/graphics`), 204);
  expect(await call('delete', `${ns}/tags`), 204);

  expect(await call('post', `${ns}/resource_types`, { name: 'OS::Glance::Image', prefix: 'hw_' }), 201);
  expect(await call('get', '/v2/metadefs/resource_types'), 200);
  expect(await call('get', `${ns}/resource_types`), 200);
  expect(await call('delete', `${ns}/resource_types/OS::Glance::Image`), 204);

  expect(await call('delete', ns), 204);
  expect(await call('get', ns), 404);
}

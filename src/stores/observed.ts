import { isStoreError, type BlobStore } from './blob-store';

/** Told of every failed store operation: the store, the operation and the error kind. */
export type StoreErrorListener = (storeId: string, operation: string, kind: string) => void;

/** Methods that are not operations on stored data: passed through uncounted. */
const UNCOUNTED = new Set<PropertyKey>(['details', 'close', 'constructor']);

/**
 * A store that behaves exactly as `inner` and reports each failure of an operation (a rejected
 * promise, or a failing `list` iteration) to `onError` before passing it on. The kind is the
 * StoreError kind, or `other` for anything else (a source's own error). A body stream failing
 * after `get` resolved is the reader's to see, not counted here. Every method of the driver is
 * covered, including ones the interface gains later.
 */
export function observeStore(inner: BlobStore, onError: StoreErrorListener): BlobStore {
  const report = (operation: string, err: unknown) => onError(inner.id, operation, isStoreError(err) ? err.kind : 'other');
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || UNCOUNTED.has(property) || typeof property === 'symbol') return value;
      let wrapper = wrapped.get(property);
      if (!wrapper) {
        const operation = property.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        const method = value as (...args: unknown[]) => unknown;
        wrapper = (...args: unknown[]) => {
          const result = method.apply(target, args);
          if (result instanceof Promise) {
            return result.catch((err: unknown) => {
              report(operation, err);
              throw err;
            });
          }
          if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return observeIteration(result as AsyncIterable<unknown>, (err) => report(operation, err));
          return result;
        };
        wrapped.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

async function* observeIteration<T>(source: AsyncIterable<T>, onError: (err: unknown) => void): AsyncIterable<T> {
  try {
    yield* source;
  } catch (err) {
    onError(err);
    throw err;
  }
}

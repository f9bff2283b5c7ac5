/** An object in a store, named by the store's id and its key there. */
export interface StoredObject {
  storeId: string;
  key: string;
}

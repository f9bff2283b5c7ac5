/**
 * The `glint` package entry: the iSulad-compatible image-store library. Loading it starts nothing;
 * the server is `dist/src/main.js` (npm start).
 */
export { ImageStore, ImageStoreError } from './library/image-store';
export type { CreateImageOptions, ImageStoreErrorCode, ImportResult, OpenOptions, StoredImage } from './library/image-store';

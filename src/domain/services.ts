import type { StoreRegistry } from '../stores/registry';
import type { ImageDataService } from './image-data';
import type { ImageService } from './image-service';
import type { ImportService } from './import-service';

/** What the HTTP surfaces may call. Built once by the composition root (src/app.ts). */
export interface Services {
  images: ImageService;
  data: ImageDataService;
  imports: ImportService;
  /** Read-only view for presenters (store ids, multi-store flag, location URLs). */
  stores: StoreRegistry;
}

import type { ImageDataService } from './image-data';
import type { ImageService } from './image-service';
import type { ImageOps } from './imageops/contract';
import type { ImportService } from './imports/import-service';
import type { LocationService } from './locations/location-service';
import type { MetadefService } from './metadefs/service';

/** What the HTTP surfaces may call. Built once by the composition root (src/app.ts). */
export interface Services {
  images: ImageService;
  data: ImageDataService;
  imports: ImportService;
  /** Image locations: the locations API and the PATCH of /locations. */
  locations: LocationService;
  /** Glance's metadata definitions (/v2/metadefs). */
  metadefs: MetadefService;
  /** imageops check and compress jobs (the imageops and EdgeGallery surfaces). */
  imageOps: ImageOps;
}

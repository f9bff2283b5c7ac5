import type { ValidationData } from './validation-data';

/** The job `POST /v2/images/{id}/locations` queues (Glance's task type). */
export const LOCATION_IMPORT_TASK = 'location_import';

/** Its input, in Glance's field names (GET /v2/tasks/{id} shows it as stored). */
export interface LocationImportInput {
  image_id: string;
  loc_url: string;
  validation_data: ValidationData;
}

import type { ImportPlugin, ImportPluginContext, ImportPluginResult } from './plugin';

export interface InjectImageMetadataOptions {
  /** `[inject_metadata_properties] inject`. */
  properties: Record<string, string>;
  /** `[inject_metadata_properties] ignore_user_roles` (lower case). */
  ignoreUserRoles: readonly string[];
}

/**
 * Glance's `inject_image_metadata`: sets the configured properties on the image, unless the user
 * who started the import has one of `ignore_user_roles`.
 */
export class InjectImageMetadata implements ImportPlugin {
  readonly name = 'inject_image_metadata';

  constructor(private readonly options: InjectImageMetadataOptions) {}

  run({ input }: ImportPluginContext): Promise<ImportPluginResult> {
    const roles = (input.roles ?? []).map((r) => r.toLowerCase());
    const ignored = roles.some((role) => this.options.ignoreUserRoles.includes(role));
    if (ignored || Object.keys(this.options.properties).length === 0) return Promise.resolve({});
    return Promise.resolve({ setProperties: { ...this.options.properties } });
  }
}

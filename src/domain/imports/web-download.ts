import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { ImportConfig } from '../../config/types';
import { GlintError, fail } from '../errors';

/**
 * The web-download source check (`[import_filtering_opts]`): scheme, host and port lists, an
 * empty allowed_hosts refusing every host. Returns the URL in normal form; IMPORT_URI_REJECTED
 * for a missing, malformed or filtered URI.
 */
export function filterWebDownloadUri(raw: string | undefined, filter: ImportConfig): string {
  if (raw === undefined) fail('IMPORT_URI_REJECTED', 'web-download requires a "uri".');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail('IMPORT_URI_REJECTED', `URI ${raw} is not valid.`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const refuse = () => fail('IMPORT_URI_REJECTED', `URI for web-download does not pass filtering: ${raw}`);
  if (!filter.allowedSchemes.includes(scheme) || filter.disallowedSchemes.includes(scheme)) refuse();
  if (!filter.allowedHosts.includes(host) || filter.disallowedHosts.includes(host)) refuse();
  if (url.port) {
    const port = Number(url.port);
    if ((filter.allowedPorts.length > 0 && !filter.allowedPorts.includes(port)) || filter.disallowedPorts.includes(port)) refuse();
  }
  return url.toString();
}

/** Opens a filtered URI for reading; redirects are refused (they would escape the filter). */
export async function openWebDownload(uri: string, signal: AbortSignal): Promise<Readable> {
  const response = await fetch(uri, { redirect: 'error', signal });
  if (!response.ok || !response.body) throw new GlintError('IMPORT_URI_REJECTED', `Downloading ${uri} failed with HTTP ${response.status}.`);
  return Readable.fromWeb(response.body as ReadableStream<Uint8Array>);
}

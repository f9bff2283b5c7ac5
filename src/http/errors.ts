import { GlintError, type ErrorKind } from '../domain/errors';

/** The one place where domain error kinds become HTTP statuses. */
export const STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  gone: 410,
  too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  client_closed: 499,
  internal: 500,
  not_implemented: 501,
  unavailable: 503,
};

/** What an error becomes on the wire, before a surface formats the body. */
export interface HttpProblem {
  status: number;
  code: string;
  /** Shown to clients only when `expose` (4xx); 5xx bodies use the stock status text. */
  message: string;
  detail?: string;
  expose: boolean;
  headers: Record<string, string>;
}

/** A GlintError that also carries response headers (Allow, Accept-Patch, WWW-Authenticate…). */
export class GlintHttpError extends GlintError {
  headers: Record<string, string> = {};

  withHeaders(headers: Record<string, string>): this {
    Object.assign(this.headers, headers);
    return this;
  }
}

export function toProblem(err: unknown): HttpProblem {
  if (err instanceof GlintError) {
    const status = STATUS_BY_KIND[err.kind];
    return {
      status,
      code: err.code,
      message: err.message,
      detail: err.detail,
      expose: status < 500 || status === 501 || status === 503,
      headers: err instanceof GlintHttpError ? err.headers : {},
    };
  }
  // Errors thrown by Koa helpers and body parsers carry their own status (e.g. 413 from a limit).
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, code: 'BAD_REQUEST', message: (err as Error).message, expose: true, headers: {} };
  }
  return { status: 500, code: 'INTERNAL', message: 'The server has either erred or is incapable of performing the requested operation.', expose: false, headers: {} };
}

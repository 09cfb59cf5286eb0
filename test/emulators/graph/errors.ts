/**
 * Error shapes of Microsoft Graph and of the Microsoft identity platform.
 * - Graph: https://learn.microsoft.com/en-us/graph/errors — {"error":{"code","message","innerError":{...}}}.
 * - Identity platform token endpoint: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1
 *   — {"error","error_description":"AADSTSnnnn: ... Trace ID: ... Correlation ID: ... Timestamp: ...","error_codes":[n],...}.
 */
import { randomUUID } from 'node:crypto';

/** A Graph error a handler throws; the router renders it in Graph's envelope. */
export class GraphFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'GraphFault';
  }
}

/** Graph's date format in innerError ("2016-11-17T18:37:45", no fraction, no zone). */
function innerDate(now: Date): string {
  return now.toISOString().slice(0, 19);
}

export function graphErrorBody(code: string, message: string, requestId: string, clientRequestId: string): unknown {
  return {
    error: {
      code,
      message,
      innerError: { date: innerDate(new Date()), 'request-id': requestId, 'client-request-id': clientRequestId },
    },
  };
}

export const faults = {
  badRequest: (message: string, code = 'BadRequest') => new GraphFault(400, code, message),
  /** https://learn.microsoft.com/en-us/graph/errors: JSON payload that cannot be read. */
  malformedJson: () =>
    new GraphFault(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.'),
  /** Directory (Entra ID) objects that do not exist. */
  directoryNotFound: (id: string) =>
    new GraphFault(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`),
  directoryBadRequest: (message: string) => new GraphFault(400, 'Request_BadRequest', message),
  /** Directory APIs deny a missing permission with this code and text. */
  directoryDenied: () => new GraphFault(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.'),
  forbidden: (message: string) => new GraphFault(403, 'Forbidden', message),
  notFound: (message: string) => new GraphFault(404, 'NotFound', message),
  segmentNotFound: (segment: string) => new GraphFault(400, 'BadRequest', `Resource not found for the segment '${segment}'.`),
  invalidToken: (message: string) => new GraphFault(401, 'InvalidAuthenticationToken', message),
};

/** An identity platform (AAD) error response. */
export interface AadError {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function aadTimestamp(now: Date): string {
  return `${now.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

export function aadError(status: number, error: string, code: number, text: string, correlationId: string | undefined): AadError {
  const now = new Date();
  const traceId = randomUUID();
  const correlation = correlationId ?? randomUUID();
  const timestamp = aadTimestamp(now);
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlation} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlation,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

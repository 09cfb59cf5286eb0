/**
 * Structured logs: one JSON object per line (winston), each with the node id; actor and request context ride
 * on child loggers (actorKey, correlationId). Message bodies are only ever logged at debug, secrets never
 * (config secrets are {@link Secret} values that print as "[secret]").
 */
import winston from 'winston';
import { activeTraceIds } from './tracing.js';

/** Adds the active span's trace id, so one stanza's lines can be found across nodes (issue: operations). */
const traceIds = winston.format((info) => {
  const ids = activeTraceIds();
  if (ids) {
    info.traceId = ids.traceId;
    info.spanId = ids.spanId;
  }
  return info;
});

export type Logger = winston.Logger;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly nodeId: string;
  /** Where lines go; stdout by default. Tests pass a stream to read the lines back. */
  readonly stream?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return winston.createLogger({
    level: options.level,
    defaultMeta: { nodeId: options.nodeId },
    format: winston.format.combine(traceIds(), winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [
      options.stream
        ? new winston.transports.Stream({ stream: options.stream })
        : new winston.transports.Console({ stderrLevels: [] }),
    ],
  });
}

/** The message of an unknown thrown value, for a log field. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

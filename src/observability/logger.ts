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
  const logger = winston.createLogger({
    level: options.level,
    defaultMeta: { nodeId: options.nodeId },
    format: winston.format.combine(traceIds(), winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [
      options.stream
        ? new winston.transports.Stream({ stream: options.stream })
        : new winston.transports.Console({ stderrLevels: [] }),
    ],
  });
  skipDisabledLevels(logger);
  return logger;
}

/**
 * winston formats every line (trace ids, timestamp, JSON) before its transport drops a level it does not log, so a
 * debug line cost as much as a written one. Here a line below the logger's level (read at each call: the level
 * can change at run time, log-level-api.ts) returns at once. Child loggers inherit the level methods.
 */
function skipDisabledLevels(logger: winston.Logger): void {
  const proto = Object.getPrototypeOf(logger) as Record<string, unknown>;
  for (const [level, rank] of Object.entries(logger.levels)) {
    const write = proto[level];
    if (typeof write !== 'function') continue;
    proto[level] = function (this: winston.Logger | undefined, ...args: unknown[]) {
      const self = this ?? logger;
      if (rank > (self.levels[self.level] ?? Number.MAX_SAFE_INTEGER)) return self;
      return (write as (...a: unknown[]) => unknown).apply(self, args);
    };
  }
}

/** The message of an unknown thrown value, for a log field. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Run-time log level (issue: operations): GET/POST /admin/log-level on one node's admin API, audit-logged. The
 * level applies to the node at once and lasts until it restarts (log.level in the configuration is the default).
 */
import type { AdminApi } from './admin-server.js';
import type { Logger, LogLevel } from './logger.js';
import type { Store } from '../store/store.js';

const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export function logLevelAdminApi(inner: AdminApi, log: Logger, store: Store, nodeId: string): AdminApi {
  return {
    token: inner.token,
    async handle(req) {
      if (req.path !== '/admin/log-level') return inner.handle(req);
      if (req.method === 'GET') return { status: 200, body: { node: nodeId, level: log.level } };
      if (req.method !== 'POST') return { status: 405, body: { error: 'use GET or POST' } };
      const level = (req.body as { level?: unknown } | undefined)?.level;
      if (typeof level !== 'string' || !LEVELS.includes(level as LogLevel)) {
        return { status: 400, body: { error: `level must be one of ${LEVELS.join(', ')}` } };
      }
      const before = log.level;
      log.level = level;
      await store.appendAudit({ at: Date.now(), actor: req.actor, action: 'log-level', subject: nodeId, detail: `${before} -> ${level}` });
      log.warn('log level changed at run time', { from: before, to: level, by: req.actor });
      return { status: 200, body: { node: nodeId, level } };
    },
  };
}

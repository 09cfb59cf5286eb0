/**
 * `whitelist` and `audit`: change the run-time whitelist in the store (every node applies it within
 * policy.reloadSeconds, no restart) and read the audit log. Entries from the configuration file are shown but
 * can only be changed in the file.
 */
import { userInfo } from 'node:os';
import { loadConfigFile } from '../config/load.js';
import { PolicyChangeError, applyWhitelistChange } from '../policy/policy-service.js';
import { openStore, openTenantStore } from '../store/open-store.js';
import type { WhitelistKind } from '../store/store.js';
import { UsageError } from './args.js';
import { pickTenant } from './tenant-option.js';

const KINDS: readonly string[] = ['domain', 'user', 'group'];

export async function runWhitelist(configPath: string, args: readonly string[], actor: string | undefined, tenantId: string | undefined, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const [op, kind, value] = args;
  const config = loadConfigFile(configPath);
  const tenant = pickTenant(config, tenantId);
  if (op !== 'list' && (op !== 'add' && op !== 'remove')) throw new UsageError("whitelist: expected 'list', 'add KIND VALUE' or 'remove KIND VALUE'");
  if (op !== 'list' && (!kind || !KINDS.includes(kind) || !value)) throw new UsageError('whitelist add|remove: KIND is domain, user or group, then the VALUE');
  // The tenant's own store (issue 16: each tenant's rows, and its whitelist, are in its store).
  const store = await openTenantStore(config.store, tenant.id);
  try {
    if (op === 'list') {
      for (const d of tenant.policy.domains) out.write(`domain\t${d}\t(config)\n`);
      for (const u of tenant.policy.users) out.write(`user\t${u}\t(config)\n`);
      for (const g of tenant.policy.groups) out.write(`group\t${g}\t(config)\n`);
      for (const e of await store.whitelist()) out.write(`${e.kind}\t${e.value}\t(added ${new Date(e.addedAt).toISOString()} by ${e.addedBy})\n`);
      return;
    }
    const who = actor ?? `${userInfo().username}@cli`;
    try {
      const r = await applyWhitelistChange(store, op, kind as WhitelistKind, value as string, who, Date.now());
      out.write(r.changed ? `${op === 'add' ? 'added' : 'removed'} ${kind} ${r.value}; nodes apply it within ${tenant.policy.reloadSeconds} s\n` : `nothing to do: ${kind} ${r.value} ${op === 'add' ? 'is already listed' : 'is not listed'}\n`);
    } catch (err) {
      if (err instanceof PolicyChangeError) throw new UsageError(err.message);
      throw err;
    }
  } finally {
    await store.close();
  }
}

export async function runAudit(configPath: string, limit: number, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const store = await openStore(loadConfigFile(configPath).store);
  try {
    for (const e of await store.auditLog(limit)) out.write(`${new Date(e.at).toISOString()}\t${e.actor}\t${e.action}\t${e.subject}${e.detail ? `\t${e.detail}` : ''}\n`);
  } finally {
    await store.close();
  }
}

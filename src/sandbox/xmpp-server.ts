/**
 * One way to start either loopback XMPP server (Prosody or ejabberd, Debian's packages), so that a federation of
 * two servers can be assembled in any pairing: the same hosts, users, components and S2S settings, whichever
 * server runs them.
 */
import { EjabberdServer } from './ejabberd.js';
import { ProsodyServer } from './prosody.js';
import type { S2sOptions } from './s2s-options.js';

export type ServerKind = 'prosody' | 'ejabberd';

export interface XmppAccount {
  readonly user: string;
  readonly password: string;
}

export interface XmppServerSpec {
  readonly kind: ServerKind;
  readonly dir: string;
  /** Virtual hosts with their accounts; the first is the server's main host. */
  readonly hosts: readonly { readonly domain: string; readonly users: readonly XmppAccount[] }[];
  readonly components?: readonly { readonly domain: string; readonly secret: string }[];
  readonly c2sPort: number;
  readonly componentPort: number;
  readonly s2s?: S2sOptions;
}

export interface XmppServer {
  readonly spec: XmppServerSpec;
  /** The server's process id. */
  readonly pid: number | undefined;
  stop(): Promise<void>;
  logTail(lines?: number): Promise<string>;
}

export async function startXmppServer(spec: XmppServerSpec): Promise<XmppServer> {
  const [main, ...extra] = spec.hosts;
  if (!main) throw new Error('an XMPP server needs at least one virtual host');
  const common = { dir: spec.dir, vhost: main.domain, components: spec.components ?? [], c2sPort: spec.c2sPort, componentPort: spec.componentPort, ...(spec.s2s ? { s2s: spec.s2s } : {}) };
  if (spec.kind === 'prosody') {
    const server = await ProsodyServer.start({ ...common, users: main.users, extraHosts: extra.map((h) => ({ vhost: h.domain, users: h.users })) });
    return { spec, pid: server.pid, stop: () => server.stop(), logTail: (lines) => server.logTail(lines) };
  }
  const asEjabberd = (users: readonly XmppAccount[]) => users.map((u) => ({ username: u.user, password: u.password }));
  const server = await EjabberdServer.start({ ...common, users: asEjabberd(main.users), extraHosts: extra.map((h) => ({ vhost: h.domain, users: asEjabberd(h.users) })) });
  return { spec, pid: server.pid, stop: () => server.stop(), logTail: (lines) => server.logTail(lines) };
}

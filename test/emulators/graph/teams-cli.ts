#!/usr/bin/env node
/**
 * Acts as Teams users against a running Graph emulator, through its control API (/_emulator/):
 *   node teams-cli.js [--emulator URL] [--ca FILE] [--tenant T] tenants | users | send | chats | edit | delete | react | unreact | photo | presence ...
 * The emulator URL comes from --emulator or XTG_EMULATOR_URL; its certificate is trusted through
 * NODE_EXTRA_CA_CERTS or --ca FILE. The tenant (id or verified domain) comes from --tenant or XTG_EMULATOR_TENANT,
 * by default the emulator's first.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { htmlToText } from './html-text.js';

const USAGE = `Usage: node teams-cli.js [--emulator URL] [--ca FILE] [--tenant T] <command>

Commands:
  tenants                                   list the emulator's tenants (id, name, domains)
  users                                     list the tenant's users and their presence
  send [--html] <as-user> <to> <text...>    post as <as-user> in the one-to-one chat with <to>
                                            (created if needed); users are a UPN, an object id or
                                            a display-name prefix
  chats <user>                              print the user's chats, each message as
                                            "#id time from: text", then (edited), (deleted),
                                            (quotes #id) and [reactions] where they apply
  edit [--html] <user> <messageId> <text...>
                                            edit one's own message
  delete <user> <messageId>                 delete one's own message (soft delete)
  react <user> <messageId> <reaction>       react to a message: an emoji (👍 ❤️ 😆 😮 😢 😡 ...)
                                            or like, heart, laugh, surprised, sad, angry
  unreact <user> <messageId> <reaction>     take one's reaction back
  photo <user> <file.jpg | file.png | none>  set (or remove) the user's profile photo (JPEG or PNG)
  presence <user>                           show what Teams shows for the user
  presence <user> <availability> <activity> set the user's own Teams client presence
                                            (e.g. Available Available, Busy InACall, Away Away;
                                            Offline Offline signs the client out)

Options:
  --emulator URL   the emulator, e.g. https://127.0.0.1:8443 (default: $XTG_EMULATOR_URL)
  --ca FILE        CA certificate to trust (default: NODE_EXTRA_CA_CERTS)
  --tenant T       the tenant to act in: its id or one of its domains, e.g. northwind.example
                   (default: $XTG_EMULATOR_TENANT, else the emulator's first tenant)
  --chat CHAT      for edit, delete, react, unreact: the chat (its id, or the other member);
                   by default the message is looked up in all of the user's chats
`;

class UsageError extends Error {}
class HelpRequested extends Error {}

interface Options {
  emulator: string;
  tenant: string | undefined;
  ca: Buffer | undefined;
  html: boolean;
  chat: string | undefined;
  args: string[];
}

function parseArgs(argv: readonly string[]): Options {
  let emulator = process.env.XTG_EMULATOR_URL ?? '';
  let tenant = process.env.XTG_EMULATOR_TENANT || undefined;
  let ca: Buffer | undefined;
  let html = false;
  let chat: string | undefined;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help' || a === '-h') throw new HelpRequested();
    if (a === '--emulator' || a === '--ca' || a === '--chat' || a === '--tenant') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (a === '--emulator') emulator = v;
      else if (a === '--chat') chat = v;
      else if (a === '--tenant') tenant = v;
      else ca = readFileSync(v);
    } else if (a === '--html') {
      html = true;
    } else {
      args.push(a);
    }
  }
  if (!emulator) throw new UsageError('no emulator URL: pass --emulator URL or set XTG_EMULATOR_URL');
  return { emulator: emulator.replace(/\/+$/u, ''), tenant, ca, html, chat, args };
}

function call(o: Options, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const target = new URL(`/_emulator/${path}`, o.emulator);
    if (o.tenant !== undefined) target.searchParams.set('tenant', o.tenant);
    const req = request(
      target,
      {
        method,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}) },
        ...(o.ca ? { ca: o.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(json);
            return;
          }
          const message = (json as { error?: { message?: string } } | undefined)?.error?.message ?? text;
          reject(new Error(`${method} ${path}: HTTP ${status}: ${message}`));
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err: Error) => reject(new Error(`cannot reach the emulator at ${o.emulator}: ${err.message}`)));
    req.end(payload);
  });
}

interface Presence {
  availability: string;
  activity: string;
  statusMessage?: string;
}

function presenceText(p: Presence): string {
  return `${p.availability} / ${p.activity}${p.statusMessage ? ` — "${p.statusMessage}"` : ''}`;
}

function time(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

interface Message {
  id: string;
  createdDateTime: string;
  lastEditedDateTime: string | null;
  deletedDateTime: string | null;
  from: { displayName: string };
  body: { contentType: string; content: string };
  attachments: { contentType: string; content: string | null }[];
  reactions: { reactionType: string; user: { displayName: string } }[];
}

/** "#id time from: text", then what happened to the message. */
function messageLine(m: Message): string {
  const text = m.body.contentType === 'html' ? htmlToText(m.body.content) : m.body.content;
  let line = `#${m.id} ${time(m.createdDateTime)} ${m.from.displayName}: ${text}`;
  for (const a of m.attachments) {
    if (a.contentType !== 'messageReference') continue;
    let quoted = '?';
    try {
      quoted = String((JSON.parse(a.content ?? '') as { messageId?: unknown }).messageId ?? '?');
    } catch {
      // not JSON: shown as '?'
    }
    line += ` (quotes #${quoted})`;
  }
  if (m.lastEditedDateTime) line += ' (edited)';
  if (m.deletedDateTime) line += ' (deleted)';
  if (m.reactions.length > 0) line += ` [${m.reactions.map((r) => `${r.reactionType} ${r.user.displayName}`).join(', ')}]`;
  return line;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = parseArgs(argv);
  const [command, ...rest] = o.args;
  const seg = (s: string) => encodeURIComponent(s);
  switch (command) {
    case 'tenants': {
      if (rest.length !== 0) throw new UsageError('tenants takes no arguments');
      const r = (await call(o, 'GET', 'tenants')) as { value: { tenantId: string; displayName: string; verifiedDomains: string[] }[] };
      for (const t of r.value) process.stdout.write(`${t.tenantId}\t${t.displayName}\t${t.verifiedDomains.join(', ')}\n`);
      return;
    }
    case 'users': {
      if (rest.length !== 0) throw new UsageError('users takes no arguments');
      const r = (await call(o, 'GET', 'users')) as { value: { userPrincipalName: string; displayName: string; id: string; presence: Presence }[] };
      for (const u of r.value) process.stdout.write(`${u.userPrincipalName}\t${u.displayName}\t${presenceText(u.presence)}\t${u.id}\n`);
      return;
    }
    case 'send': {
      const [as, to, ...words] = rest;
      if (!as || !to || words.length === 0) throw new UsageError('send needs <as-user> <to> <text...>');
      const m = (await call(o, 'POST', `users/${seg(as)}/messages`, { to, text: words.join(' '), html: o.html })) as { id: string; chatId: string };
      process.stdout.write(`sent message ${m.id} in chat ${m.chatId}\n`);
      return;
    }
    case 'chats': {
      const [user] = rest;
      if (!user || rest.length !== 1) throw new UsageError('chats needs <user>');
      const r = (await call(o, 'GET', `users/${seg(user)}/chats`)) as {
        value: {
          id: string;
          members: { userId: string; upn: string; displayName: string }[];
          messages: Message[];
        }[];
      };
      if (r.value.length === 0) process.stdout.write('no chats\n');
      for (const chat of r.value) {
        const names = chat.members.map((m) => `${m.displayName} <${m.upn}>`).join(' and ');
        process.stdout.write(`== ${names}  (${chat.id})\n`);
        for (const m of chat.messages) process.stdout.write(`${messageLine(m)}\n`);
      }
      return;
    }
    case 'edit': {
      const [user, id, ...words] = rest;
      if (!user || !id || words.length === 0) throw new UsageError('edit needs <user> <messageId> <text...>');
      const m = (await call(o, 'PATCH', `users/${seg(user)}/messages/${seg(id)}`, { text: words.join(' '), html: o.html, ...(o.chat ? { chat: o.chat } : {}) })) as Message;
      process.stdout.write(`${messageLine(m)}\n`);
      return;
    }
    case 'delete': {
      const [user, id] = rest;
      if (!user || !id || rest.length !== 2) throw new UsageError('delete needs <user> <messageId>');
      const m = (await call(o, 'DELETE', `users/${seg(user)}/messages/${seg(id)}${o.chat ? `?chat=${seg(o.chat)}` : ''}`)) as Message;
      process.stdout.write(`${messageLine(m)}\n`);
      return;
    }
    case 'react':
    case 'unreact': {
      const [user, id, reaction] = rest;
      if (!user || !id || !reaction || rest.length !== 3) throw new UsageError(`${command} needs <user> <messageId> <reaction>`);
      const m = (command === 'react'
        ? await call(o, 'POST', `users/${seg(user)}/messages/${seg(id)}/reactions`, { reactionType: reaction, ...(o.chat ? { chat: o.chat } : {}) })
        : await call(o, 'DELETE', `users/${seg(user)}/messages/${seg(id)}/reactions/${seg(reaction)}${o.chat ? `?chat=${seg(o.chat)}` : ''}`)) as Message;
      process.stdout.write(`${messageLine(m)}\n`);
      return;
    }
    case 'photo': {
      const [user, file] = rest;
      if (!user || !file || rest.length !== 2) throw new UsageError('photo needs <user> <file.jpg | file.png | none>');
      if (file === 'none') {
        await call(o, 'DELETE', `users/${seg(user)}/photo`);
        process.stdout.write('photo removed\n');
        return;
      }
      const bytes = readFileSync(file);
      const type = /\.png$/iu.test(file) ? 'image/png' : 'image/jpeg';
      await call(o, 'PUT', `users/${seg(user)}/photo`, bytes, type);
      process.stdout.write(`photo set (${bytes.length} bytes)\n`);
      return;
    }
    case 'presence': {
      const [user, availability, activity] = rest;
      if (!user || rest.length === 2 || rest.length > 3) throw new UsageError('presence needs <user> [<availability> <activity>]');
      const p = (availability && activity
        ? await call(o, 'PUT', `users/${seg(user)}/presence`, { availability, activity })
        : await call(o, 'GET', `users/${seg(user)}/presence`)) as Presence;
      process.stdout.write(`${presenceText(p)}\n`);
      return;
    }
    default:
      throw new UsageError(command ? `unknown command '${command}'` : '');
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof HelpRequested) {
    process.stdout.write(USAGE);
    return;
  }
  if (err instanceof UsageError) {
    if (err.message) process.stderr.write(`teams-cli: ${err.message}\n\n`);
    process.stderr.write(USAGE);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`teams-cli: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

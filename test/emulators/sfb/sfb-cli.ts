#!/usr/bin/env node
/**
 * Acts as Skype for Business users against a running SfB emulator, through its control API (/_emulator/):
 *   node sfb-cli.js [--emulator URL] <command> ...
 * The URL comes from --emulator or XTG_SFB_EMULATOR_URL (the sandbox prints it).
 */
import { readFileSync, writeFileSync } from 'node:fs';

const USAGE = `Usage: node sfb-cli.js [--emulator URL] <command>

Commands:
  users                                   list the pool's users, their presence and open IM sessions
  send [--html|--multipart] <user> <to> <text...>
                                          IM as <user> to an XMPP address (juliet@xmpp.example): in the
                                          open session, or a new one whose INVITE carries the text
  inbox <user>                            what the user's devices received (messages, typing, sessions)
  typing <user> <to> [idle]               typing notice in the open session
  bye <user> <to>                         close the IM session
  conference <user> <to>                  invite the XMPP user to a multiparty conference (declined)
  presence <user> <availability> [activity] [note...]
                                          publish presence (3500 available, 6500 busy, 9500 dnd,
                                          15500 away, 18500 offline; activity e.g. in-a-meeting)
  watch <user> <to>                       subscribe the user to an XMPP user's presence
  watching <user>                         what the user sees of the XMPP users she watches
  photo <user> [file.png|file.jpg]        show a picture from a web address (no file: none)
  contact-photo <user> <to> <out-file>    save the photo the user's client shows for a watched XMPP user
  devices <user> <count> [answer] [delayMs]
                                          signed-in devices, how they answer (auto, busy, decline,
                                          ignore) and after what delay
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  let url = process.env.XTG_SFB_EMULATOR_URL ?? '';
  let form: 'plain' | 'html' | 'multipart' = 'plain';
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return;
    }
    if (a === '--emulator') url = argv[++i] ?? '';
    else if (a === '--html') form = 'html';
    else if (a === '--multipart') form = 'multipart';
    else args.push(a);
  }
  if (!url) throw new UsageError('no emulator URL: pass --emulator URL or set XTG_SFB_EMULATOR_URL');
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url.replace(/\/+$/u, '')}/_emulator${path}`, { method, headers: { 'Content-Type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const json = (await res.json()) as unknown;
    if (!res.ok) throw new Error(`emulator: ${(json as { error?: string }).error ?? res.status}`);
    return json;
  };
  const [cmd, user, ...rest] = args;
  const u = encodeURIComponent(user ?? '');
  const need = (v: string | undefined, what: string) => v ?? (() => { throw new UsageError(`${cmd}: ${what} is missing`); })();
  switch (cmd) {
    case 'users':
      for (const x of (await call('GET', '/users')) as { uri: string; displayName: string; devices: number; presence: { availability: number; activity?: string; note?: string }; sessions: { remote: string }[] }[]) {
        process.stdout.write(`${x.uri}  ${x.displayName}  devices=${x.devices}  availability=${x.presence.availability}${x.presence.activity ? `/${x.presence.activity}` : ''}${x.presence.note ? ` "${x.presence.note}"` : ''}${x.sessions.length ? `  sessions: ${x.sessions.map((s) => s.remote).join(', ')}` : ''}\n`);
      }
      return;
    case 'send': {
      const r = (await call('POST', `/users/${u}/messages`, { to: need(rest[0], 'to'), text: rest.slice(1).join(' '), form })) as { status: number };
      process.stdout.write(`SIP ${r.status}\n`);
      return;
    }
    case 'inbox':
      for (const m of (await call('GET', `/users/${u}/inbox`)) as { at: number; from: string; kind: string; text?: string }[]) {
        process.stdout.write(`${new Date(m.at).toISOString()} ${m.kind} ${m.from}${m.text !== undefined ? `: ${m.text}` : ''}\n`);
      }
      return;
    case 'typing':
      process.stdout.write(`SIP ${((await call('POST', `/users/${u}/typing`, { to: need(rest[0], 'to'), state: rest[1] === 'idle' ? 'idle' : 'composing' })) as { status: number }).status}\n`);
      return;
    case 'bye':
    case 'conference':
    case 'watch':
      process.stdout.write(`SIP ${((await call('POST', `/users/${u}/${cmd}`, { to: need(rest[0], 'to') })) as { status: number }).status}\n`);
      return;
    case 'watching':
      for (const [jid, w] of Object.entries((await call('GET', `/users/${u}/watching`)) as Record<string, { body: string; state: string }>)) {
        const availability = /<availability>(\d+)<\/availability>/u.exec(w.body)?.[1] ?? '?';
        const note = /<body[^>]*>([^<]*)<\/body>/u.exec(w.body)?.[1] ?? '';
        process.stdout.write(`${jid}  availability=${availability}${note ? ` "${note}"` : ''}  (${w.state})\n`);
      }
      return;
    case 'presence': {
      const availability = Number(need(rest[0], 'availability'));
      if (!Number.isInteger(availability)) throw new UsageError('availability must be a number, e.g. 3500');
      await call('POST', `/users/${u}/presence`, { availability, activity: rest[1], note: rest.slice(2).join(' ') || undefined });
      process.stdout.write('published\n');
      return;
    }
    case 'photo': {
      const file = rest[0];
      const body = file ? { type: /\.jpe?g$/iu.test(file) ? 'image/jpeg' : 'image/png', base64: readFileSync(file).toString('base64') } : {};
      await call('PUT', `/users/${u}/photo`, body);
      process.stdout.write(file ? 'picture shown\n' : 'no picture\n');
      return;
    }
    case 'contact-photo': {
      const out = need(rest[1], 'out-file');
      const r = (await call('GET', `/users/${u}/contact-photo?contact=${encodeURIComponent(need(rest[0], 'to'))}`)) as { status: number; url?: string; type?: string; base64?: string };
      if (r.status !== 200 || !r.base64) throw new Error(`no photo (${r.url ? `${r.url}: HTTP ${r.status}` : 'the contact card names none'})`);
      writeFileSync(out, Buffer.from(r.base64, 'base64'));
      process.stdout.write(`${r.type ?? ''} from ${r.url ?? ''} saved to ${out}\n`);
      return;
    }
    case 'devices': {
      const count = Number(need(rest[0], 'count'));
      await call('PATCH', `/users/${u}/devices`, { count, ...(rest[1] ? { answer: rest[1] } : {}), ...(rest[2] ? { answerDelayMs: Number(rest[2]) } : {}) });
      process.stdout.write(`${count} device(s)\n`);
      return;
    }
    default:
      throw new UsageError(cmd ? `unknown command ${cmd}` : 'no command');
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n${err instanceof UsageError ? USAGE : ''}`);
  process.exit(err instanceof UsageError ? 2 : 1);
});

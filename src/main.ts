#!/usr/bin/env node
/**
 * The `xmpp-teams-gateway` command. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration.
 */
import { ConfigError } from './config/load.js';
import { StoreError } from './store/store.js';
import { UsageError, parseArgs, stringOption, stringOptions } from './cli/args.js';
import { runCheckConfig } from './cli/check-config.js';
import { runStart } from './cli/start.js';
import { packageVersion } from './gateway.js';
import { MissingOsPackagesError } from './sandbox/os-deps.js';
import { ProsodyError } from './sandbox/prosody.js';
import { LicenceKeyError } from './cluster/licence.js';
import { LicenceRejectedError } from './cli/licence.js';

/** Failures whose message says everything; anything else is a bug and gets its stack. */
const EXPECTED_FAILURES = [StoreError, MissingOsPackagesError, ProsodyError, LicenceKeyError, LicenceRejectedError];

const USAGE = `usage: xmpp-teams-gateway <command> [options]

commands:
  start          run a gateway node            --config FILE (or XTG_CONFIG; default ./config/gateway.yaml); SIGHUP reloads its tenants
  check-config   validate a configuration file --config FILE
  doctor         check each tenant before go-live --config FILE [--tenant ID] [--puppet JID]: one line per check, exit 1 on a failure
  migrate        apply store migrations now    --config FILE (start does it too; safe on several nodes at once)
  whitelist      list | add KIND VALUE | remove KIND VALUE   (KIND: domain, user, group) --config FILE [--tenant ID] [--actor NAME]
                 run-time changes, audit-logged; running nodes apply them without restart
  audit          the audit log, newest first   --config FILE [--limit N]
  licence        show --file FILE              print a licence's terms and verify it as a node of this build would
  cluster        status [--json] [--tenant ID]  live nodes, licence seats, roles and actors per node, each tenant's link holder and actors --config FILE
  front-server-config  --server prosody|ejabberd --config FILE [--dialback DOMAIN]...
                 the S2S whitelist of the XMPP server in front of the gateway, from the gateway's whitelist
  sandbox        run a complete federation on loopback (the gateway's Prosody, a partner's Prosody over S2S,
                 Graph emulator, SfB emulator, one node)
                 --dir DIR (default ./.sandbox)  --c2s-port N (5222)  --component-port N (5347)
                 --partner-c2s-port N (5223)  --emulator-port N (8443)  --webhook-port N (8090)  --admin-port N (9464)
                 --sfb-port N (5061)  --sfb-pool-port N (5062)  --sfb-control-port N (8444)  --sfb-photos-port N (8061)
  help           this text
options: --version`;

const OPTIONS = new Set([
  'actor', 'limit', 'config', 'dir', 'c2s-port', 'component-port', 'partner-c2s-port', 'emulator-port', 'webhook-port', 'admin-port', 'sfb-port', 'sfb-pool-port', 'sfb-control-port', 'sfb-photos-port', 'version', 'help',
  'puppet', 'server', 'dialback', 'file', 'public-key', 'json', 'tenant',
]);

async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, OPTIONS);
  if (args.options.has('version')) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const config = stringOption(args, 'config') ?? process.env.XTG_CONFIG ?? './config/gateway.yaml';
  switch (args.command) {
    case 'start':
      await runStart(config);
      return 0;
    case 'check-config':
      runCheckConfig(config);
      return 0;
    case 'doctor': {
      const { runDoctor } = await import('./cli/doctor.js');
      return runDoctor(config, stringOption(args, 'puppet'), stringOption(args, 'tenant'));
    }
    case 'whitelist': {
      const { runWhitelist } = await import('./cli/whitelist.js');
      await runWhitelist(config, args.rest, stringOption(args, 'actor'), stringOption(args, 'tenant'));
      return 0;
    }
    case 'audit': {
      const { runAudit } = await import('./cli/whitelist.js');
      await runAudit(config, Number(stringOption(args, 'limit') ?? 50) || 50);
      return 0;
    }
    case 'migrate': {
      const { runMigrate } = await import('./cli/migrate.js');
      await runMigrate(config);
      return 0;
    }
    case 'front-server-config': {
      const { runFrontServerConfig } = await import('./cli/front-server-config.js');
      await runFrontServerConfig(config, { server: stringOption(args, 'server'), dialback: stringOptions(args, 'dialback') });
      return 0;
    }
    case 'cluster': {
      const { runCluster } = await import('./cli/cluster.js');
      await runCluster(config, args.rest, args.options.has('json'), stringOption(args, 'tenant'));
      return 0;
    }
    case 'licence': {
      const { runLicence } = await import('./cli/licence.js');
      runLicence(args.rest, args);
      return 0;
    }
    case 'sandbox': {
      const { runSandbox } = await import('./sandbox/sandbox.js');
      const port = (name: string, dflt: number) => {
        const v = stringOption(args, name);
        const n = v === undefined ? dflt : Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${name} must be a port number`);
        return n;
      };
      await runSandbox({
        dir: stringOption(args, 'dir') ?? './.sandbox',
        c2sPort: port('c2s-port', 5222),
        componentPort: port('component-port', 5347),
        partnerC2sPort: port('partner-c2s-port', 5223),
        emulatorPort: port('emulator-port', 8443),
        webhookPort: port('webhook-port', 8090),
        adminPort: port('admin-port', 9464),
        sfbPort: port('sfb-port', 5061),
        sfbPoolPort: port('sfb-pool-port', 5062),
        sfbControlPort: port('sfb-control-port', 8444),
        sfbPhotosPort: port('sfb-photos-port', 8061),
      });
      return 0;
    }
    case undefined:
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return args.command === 'help' ? 0 : 2;
    default:
      throw new UsageError(`unknown command '${args.command}'`);
  }
}

/** Exits once output is flushed, even if a library left a handle open. */
function exitSoon(): void {
  setTimeout(() => process.exit(), 1000).unref();
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`xmpp-teams-gateway: ${err.message}\n`);
      if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
      process.exitCode = 2;
      exitSoon();
      return;
    }
    const expected = EXPECTED_FAILURES.some((cls) => err instanceof cls);
    const message = err instanceof Error ? (expected ? err.message : (err.stack ?? err.message)) : String(err);
    process.stderr.write(`xmpp-teams-gateway: ${message}\n`);
    process.exitCode = 1;
    exitSoon();
  },
);

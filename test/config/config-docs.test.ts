import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { configJsonSchema, configTableMarkdown } from '../../src/config/config-docs.js';

const root = new URL('../../../', import.meta.url);

describe('configuration documentation', () => {
  it('documents every key in the README (run `npm run docs:config` after changing the schema)', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    assert.ok(readme.includes(configTableMarkdown()), 'README configuration table is out of date');
    for (const key of ['xmpp.service', 'xmpp.domain', 'xmpp.password', 'teams.tenantId', 'teams.clientId', 'teams.authorityHost', 'teams.graphBaseUrl', 'teams.webhook.listen', 'teams.webhook.publicUrl', 'store.sqlite.path']) {
      assert.ok(readme.includes(`| \`${key}\` |`), key);
    }
  });
  it('ships config/schema.json generated from the same schema', () => {
    const shipped = JSON.parse(readFileSync(new URL('config/schema.json', root), 'utf8')) as unknown;
    assert.deepEqual(shipped, JSON.parse(JSON.stringify(configJsonSchema())));
  });
});

/**
 * Documentation generated from the configuration schema: the README's key table and config/schema.json (for
 * editors that validate YAML against a JSON Schema). `npm run docs:config` writes both; a test fails when either
 * is out of step with the schema.
 */
import { z } from 'zod';
import { ConfigSchema } from './schema.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
}

export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.some((x) => x.properties?.env) ? 'secret' : s.anyOf.map(typeOf).join(' or ');
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' / ');
  const t = Array.isArray(s.type) ? s.type.join('/') : (s.type ?? 'any');
  const range = s.type === 'integer' && (s.minimum !== undefined || (s.maximum ?? 0) < 1e15) ? ` ${s.minimum ?? ''}..${(s.maximum ?? 0) < 1e15 ? s.maximum : ''}` : '';
  return `${t}${range}`;
}

/** `optionalParent` names the nearest optional ancestor: its required keys are required only when it is set. */
function rows(s: JsonSchema, prefix: string, out: string[], optionalParent?: string): void {
  for (const [name, child] of Object.entries(s.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    const isRequired = s.required?.includes(name) === true && child.default === undefined;
    if (child.properties && !child.anyOf) {
      rows(child, key, out, isRequired || child.default !== undefined ? optionalParent : key);
      continue;
    }
    if (child.items?.properties && !child.anyOf) {
      // A list of objects (tenants, wall rules): the list, then each key of its entries as `list[].key`.
      out.push(`| \`${key}\` | list |  | ${child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``} | ${(child.description ?? '').replace(/\|/gu, '\\|')} |`);
      rows(child.items, `${key}[]`, out, `${key}`);
      continue;
    }
    const required = isRequired ? (optionalParent ? `with \`${optionalParent}\`` : 'yes') : '';
    const dflt = child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``;
    const description = (child.description ?? '').replace(/\|/gu, '\\|');
    out.push(`| \`${key}\` | ${typeOf(child)} | ${required} | ${dflt} | ${description} |`);
  }
}

/** The README table: every key, its type, whether it is required, its default and what it does. */
export function configTableMarkdown(): string {
  const out = ['| Key | Type | Required | Default | Meaning |', '|---|---|---|---|---|'];
  rows(configJsonSchema() as JsonSchema, '', out);
  return out.join('\n');
}

// `npm run docs:config`: writes the README configuration table and config/schema.json from the schema.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { configJsonSchema, configTableMarkdown } from '../dist/src/config/config-docs.js';
import { presenceTableMarkdown } from '../dist/src/protocol/presence-map.js';

function replaceBetween(text, marker, content) {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i === -1 || j === -1) throw new Error(`README lacks the ${marker} markers`);
  return `${text.slice(0, i + start.length)}\n${content}\n${text.slice(j)}`;
}

mkdirSync('config', { recursive: true });
writeFileSync('config/schema.json', `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
let readme = readFileSync('README.md', 'utf8');
readme = replaceBetween(readme, 'config-table', configTableMarkdown());
readme = replaceBetween(readme, 'presence-table', presenceTableMarkdown());
writeFileSync('README.md', readme);
console.log('README.md and config/schema.json updated');

// Builds guests-without-agent.wasm with componentize-js:
//   npm install @bytecodealliance/componentize-js@0.23.0
//   node build.mjs [OUT_DIR]        (PROXMCP_WIT: the contract folder, default ../../wit)
// Every WASI feature is disabled, so the component imports only the contract.
import { componentize } from '@bytecodealliance/componentize-js';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? here;
const source = await readFile(join(here, 'app.js'), 'utf8');
const { component } = await componentize(source, {
  witPath: process.env.PROXMCP_WIT ?? join(here, '..', '..', 'wit'),
  worldName: 'plugin',
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(join(out, 'guests-without-agent.wasm'), component);
// The sidecar manifest goes next to the .wasm.
if (resolve(out) !== resolve(here)) {
  await copyFile(join(here, 'guests-without-agent.proxmcp.json'), join(out, 'guests-without-agent.proxmcp.json'));
}
console.log(`built ${join(out, 'guests-without-agent.wasm')}`);

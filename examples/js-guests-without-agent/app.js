// guests-without-agent: a proxmcp plugin in JavaScript.
//
// One read-only tool, js_guests_without_agent: running QEMU guests whose
// config does not enable the QEMU guest agent (so pve_vm_exec, clean
// shutdowns and IP reporting will not work for them). Built with
// componentize-js (see build.mjs); the manifest lives in
// guests-without-agent.proxmcp.json next to the .wasm because a JS
// component cannot carry the custom section Rust plugins use.

import { request } from 'proxmcp:plugin/pve@0.1.4';

const SCHEMA = {
  type: 'object',
  properties: {
    node: { type: 'string', description: 'Only guests on this node.' },
  },
  additionalProperties: false,
};

function invalid(message) {
  return { tag: 'invalid-arguments', val: message };
}

// A failed pve import call throws a ComponentError whose payload is the
// api-error variant; pass it on so the client sees the host's message.
function get(path, params) {
  try {
    return JSON.parse(request('get', path, JSON.stringify(params ?? {})));
  } catch (e) {
    throw { tag: 'api', val: e.payload ?? { tag: 'other', val: String(e) } };
  }
}

function guestsWithoutAgent(args) {
  for (const key of Object.keys(args)) {
    if (key !== 'node') throw invalid(`unknown argument ${JSON.stringify(key)}; the only argument is node`);
  }
  if (args.node !== undefined && typeof args.node !== 'string') throw invalid('node must be a node name such as pve1');
  const guests = get(['cluster', 'resources'], { type: 'vm' })
    .filter((g) => g.type === 'qemu' && g.status === 'running' && !g.template)
    .filter((g) => args.node === undefined || g.node === args.node);
  const without = [];
  for (const g of guests) {
    const config = get(['nodes', g.node, 'qemu', String(g.vmid), 'config']);
    const agent = String(config.agent ?? '0');
    if (!(agent.startsWith('1') || agent.includes('enabled=1'))) {
      without.push({ vmid: g.vmid, node: g.node, name: g.name ?? null });
    }
  }
  return {
    structured: JSON.stringify({ checked: guests.length, guests: without }),
    text: `${without.length} of ${guests.length} running VMs have no guest agent enabled`,
  };
}

export const tools = {
  listTools() {
    return [
      {
        name: 'js_guests_without_agent',
        title: 'VMs without guest agent',
        description: 'Running QEMU guests whose config does not enable the QEMU guest agent.',
        inputSchema: JSON.stringify(SCHEMA),
        outputSchema: undefined,
        hints: { readOnly: true, destructive: false, idempotent: true, openWorld: true },
      },
    ];
  },
  callTool(name, args) {
    if (name !== 'js_guests_without_agent') throw { tag: 'unknown-tool', val: name };
    let parsed;
    try {
      parsed = JSON.parse(args);
    } catch (e) {
      throw invalid(`arguments are not JSON: ${e}`);
    }
    return guestsWithoutAgent(parsed);
  },
};

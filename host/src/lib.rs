//! proxmcp: an MCP server for Proxmox VE whose tools run as sandboxed
//! WebAssembly components.
//!
//! The layers depend downward only:
//! [`mcp`] (transports, tool registry) -> [`gate`] (grants, read-only,
//! confirmation) -> [`runtime`] (wasmtime, limits, compile cache) ->
//! [`pve`] (the Proxmox client). [`config`] feeds all of them; [`cache`] is
//! the private on-disk cache both compiled plugins and API schemas use; [`plugins`]
//! says where components come from. [`sim`] is an embedded Proxmox
//! simulator, reached only from the CLI and tests; [`testkit`] runs a
//! plugin against it for plugin authors.

pub mod cache;
pub mod clock;
pub mod config;
pub mod defaults;
pub mod gate;
pub mod logging;
pub mod mcp;
pub mod plugins;
pub mod pve;
pub mod runtime;
pub mod scaffold;
pub mod secret;
pub mod sim;
pub mod testkit;

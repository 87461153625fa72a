//! End-to-end tests: the real `proxmcp` binary, real wasm components built
//! from `plugins/` and `tests/plugins/`, real MCP clients (rmcp; the
//! official Python SDK), the embedded Proxmox simulator on 127.0.0.1.
//!
//! One test binary with modules (faster to link than one per file).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod api_schema;
mod audit;
mod backups;
mod budgets;
mod calls;
mod cli;
mod cloud_init;
mod conformance;
mod demo;
mod doctor;
mod examples;
mod firewall_ha;
mod gates;
mod http;
mod inspector;
mod inventory_tools;
mod lifecycle;
mod mcp_logging;
mod mcp_tasks;
mod prompts;
mod protection;
mod provisioning;
mod pve_client;
pub mod python_client;
mod resources;
mod sandbox;
mod secrets;
mod simulator;
mod stateless_approval;
mod stdio_inventory;
mod support;
mod targets;
mod templates_disks;
mod testkit;

//! The commands of the `proxmcp` binary, one module per job; `main.rs`
//! parses the command line and dispatches here.

pub(crate) mod admin;
pub(crate) mod doctor;
pub(crate) mod env;
pub(crate) mod plugin;
pub(crate) mod serve;
pub(crate) mod setup;
pub(crate) mod sim;

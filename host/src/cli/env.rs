//! The process's surroundings: `.env` (which never overrides an explicit
//! config file), environment lookups and log output.

/// Variables from a `.env` in the working directory: they fill in what
/// the environment lacks, and are ignored when a config file is named
/// explicitly, so a stray `.env` never overrides the operator's file or
/// flags.
pub(crate) static DOTENV: std::sync::OnceLock<std::collections::HashMap<String, String>> = std::sync::OnceLock::new();

/// Settings a `.env` must not change silently: where the token is sent and
/// whom it trusts.
pub(crate) const TRUST_VARIABLES: &[&str] =
    &["PVE_BASE_URL", "PVE_HOST", "PVE_VERIFY_SSL", "PVE_ALLOW_INSECURE_HTTP", "PVE_FINGERPRINT", "PVE_CA_FILE"];

pub(crate) fn read_dotenv(explicit_config: Option<&std::path::Path>) {
    let path = std::path::Path::new(".env");
    let mut vars = std::collections::HashMap::new();
    match dotenvy::from_path_iter(path) {
        Err(e) if e.not_found() => {}
        Err(e) => tracing::warn!("ignoring .env: {e}"),
        Ok(_) if explicit_config.is_some() => tracing::warn!(
            "ignoring .env in the working directory: the config file {} was named explicitly, and .env never overrides it",
            explicit_config.map(|p| p.display().to_string()).unwrap_or_default()
        ),
        Ok(iter) => {
            for item in iter {
                match item {
                    Ok((k, v)) if std::env::var_os(&k).is_none() => {
                        vars.insert(k, v);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("ignoring a line of .env: {e}"),
                }
            }
            let trust: Vec<&str> = TRUST_VARIABLES.iter().copied().filter(|v| vars.contains_key(*v)).collect();
            if !trust.is_empty() {
                let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
                tracing::warn!(
                    "the .env file {} sets {}: the Proxmox URL or TLS trust (and so where the credentials go) come from that file",
                    file.display(),
                    trust.join(", ")
                );
            }
        }
    }
    let _ = DOTENV.set(vars);
}

pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| DOTENV.get().and_then(|vars| vars.get(name).cloned()))
}

pub(crate) fn init_logging(serving: bool) {
    let default = if serving { "info,rmcp=warn" } else { "warn" };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, filter::FilterExt};
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROXMCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Below info these libraries log whole MCP messages (tool arguments
    // such as guest passwords) or HTTP headers (the Proxmox token): they
    // never go lower, whatever PROXMCP_LOG asks for.
    // rmcp logs session ids at info, and a session id is a credential.
    let cap = ["hyper", "hyper_util", "h2", "reqwest", "rustls", "tower", "tower_http", "axum"]
        .into_iter()
        .fold(tracing_subscriber::filter::Targets::new().with_default(tracing::Level::TRACE), |t, target| {
            t.with_target(target, tracing::Level::INFO)
        })
        .with_target("rmcp", tracing::Level::WARN)
        // The compiler's traces run to gigabytes per plugin compiled; they
        // are for debugging wasmtime, not a deployment.
        .with_target("wasmtime", tracing::Level::DEBUG)
        .with_target("cranelift", tracing::Level::INFO)
        .with_target("cranelift_codegen", tracing::Level::INFO)
        .with_target("cranelift_frontend", tracing::Level::INFO)
        .with_target("wasmtime_cranelift", tracing::Level::INFO)
        .with_target("wasmtime_internal_cranelift", tracing::Level::INFO)
        .with_target("regalloc2", tracing::Level::INFO)
        // A refused certificate is reported once, in the error that says
        // what to do (PVE_FINGERPRINT, PVE_CA_FILE), not raw before it.
        .with_target("rustls_platform_verifier", tracing_subscriber::filter::LevelFilter::OFF);
    // Logs go to stderr: in stdio mode stdout is the protocol stream.
    // Control characters in logged values (Proxmox's messages, names) are
    // escaped, so no value can forge a record.
    let layer = tracing_subscriber::fmt::layer().with_writer(proxmcp::logging::stderr).with_ansi(false);
    tracing_subscriber::registry().with(layer.with_filter(filter.and(cap))).init();
}

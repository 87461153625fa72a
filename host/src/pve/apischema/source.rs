//! Where a cluster's schema comes from: the node's own `apidoc.js`, fetched
//! once with the client's TLS trust and credentials, kept in memory, and
//! cached on disk per PVE version (in the private cache directory, under
//! the same ownership rules as compiled plugins) so a restart does not
//! fetch it again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::ApiSchema;
use crate::cache::CompileCache;
use crate::pve::{Method, PveClient};

/// Where a node serves its API viewer's data.
pub const APIDOC_PATH: &str = "/pve-docs/api-viewer/apidoc.js";

/// How long a failed fetch is remembered before the next call tries again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// The schema of one cluster, fetched on first use.
pub struct SchemaSource {
    cache: Option<Arc<CompileCache>>,
    state: Mutex<State>,
}

enum State {
    Unknown,
    Ready(Arc<ApiSchema>),
    Failed { at: Instant, why: String },
}

impl std::fmt::Debug for SchemaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSource").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl SchemaSource {
    /// A source caching on disk in `cache` (none: memory only).
    pub fn new(cache: Option<Arc<CompileCache>>) -> Self {
        Self { cache, state: Mutex::new(State::Unknown) }
    }

    /// The schema, fetched (or read from the disk cache) on first use.
    /// `Err` says why it cannot be had; a failure is remembered for a
    /// minute so calls meanwhile do not each wait for the node.
    pub async fn get(&self, client: &PveClient) -> Result<Arc<ApiSchema>, String> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Ready(schema) => return Ok(schema.clone()),
            State::Failed { at, why } if at.elapsed() < RETRY_AFTER => return Err(why.clone()),
            _ => {}
        }
        match self.load(client).await {
            Ok(schema) => {
                let schema = Arc::new(schema);
                *state = State::Ready(schema.clone());
                Ok(schema)
            }
            Err(why) => {
                tracing::warn!("the Proxmox API schema is not available: {why}");
                *state = State::Failed { at: Instant::now(), why: why.clone() };
                Err(why)
            }
        }
    }

    async fn load(&self, client: &PveClient) -> Result<ApiSchema, String> {
        let version = client
            .request(Method::Get, &["version"], &serde_json::Value::Null)
            .await
            .map_err(|e| format!("could not read the PVE version: {e}"))?;
        // PVE's build id tells two builds of one version apart.
        let build = version["repoid"].as_str().unwrap_or_default();
        let version = version["version"].as_str().unwrap_or("unknown").to_string();
        let file = cache_file(&format!("{version}-{build}"));
        if let Some(bytes) = self.cache.as_ref().and_then(|c| c.get_file(&file))
            && let Ok(text) = String::from_utf8(bytes)
        {
            match ApiSchema::parse(&text, &version) {
                Ok(schema) => {
                    tracing::info!(version = %version, endpoints = schema.endpoint_count(), "loaded the Proxmox API schema from the cache");
                    return Ok(schema);
                }
                Err(e) => tracing::warn!("ignoring the cached API schema {file}: {e}"),
            }
        }
        let text = client
            .fetch_document(APIDOC_PATH)
            .await
            .map_err(|e| format!("could not fetch {APIDOC_PATH} from the node: {e}"))?;
        let schema = ApiSchema::parse(&text, &version).map_err(|e| format!("{APIDOC_PATH}: {e}"))?;
        if let Some(cache) = &self.cache {
            cache.put_file(&file, text.as_bytes());
        }
        tracing::info!(version = %version, endpoints = schema.endpoint_count(), "loaded the Proxmox API schema");
        Ok(schema)
    }
}

/// `apidoc-9.2.1-faa83925.js`: version and build reduced to characters safe
/// in a name.
fn cache_file(version: &str) -> String {
    let safe: String =
        version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    format!("apidoc-{safe}.js")
}

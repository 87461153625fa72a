//! Plugins' resources as MCP resources: listings, contents and
//! completions, with caching hints.
//!
//! Everything is `private` to the caller's client: what a caller may read
//! depends on its role, and reads come from the caller's cluster view.

use rmcp::model::{
    CacheScope, CompleteResult, CompletionInfo, ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate,
};

use crate::runtime::resources::{Contents, ResourceSpec};

/// The lists change only with the deployment (a restart).
const LIST_TTL_MS: u64 = 300_000;

pub fn to_mcp(r: &ResourceSpec) -> Resource {
    let mut out = Resource::new(&r.uri, &r.name).with_description(&r.description).with_mime_type(&r.mime_type);
    out.title = r.title.clone();
    out
}

pub fn template_to_mcp(t: &ResourceSpec) -> ResourceTemplate {
    let mut out = ResourceTemplate::new(&t.uri, &t.name).with_description(&t.description).with_mime_type(&t.mime_type);
    out.title = t.title.clone();
    out
}

pub fn listing(list: ListResourcesResult) -> ListResourcesResult {
    list.with_ttl_ms(LIST_TTL_MS).with_cache_scope(CacheScope::Private)
}

pub fn listing_templates(list: ListResourceTemplatesResult) -> ListResourceTemplatesResult {
    list.with_ttl_ms(LIST_TTL_MS).with_cache_scope(CacheScope::Private)
}

pub fn contents(uri: &str, contents: Contents, ttl_ms: u32) -> ReadResourceResult {
    let mut text = ResourceContents::text(contents.text, uri);
    if let ResourceContents::TextResourceContents { mime_type, .. } = &mut text {
        *mime_type = Some(contents.mime_type);
    }
    ReadResourceResult::new(vec![text]).with_ttl_ms(u64::from(ttl_ms)).with_cache_scope(CacheScope::Private)
}

/// The runtime already keeps at most 100 values (`CompletionInfo::MAX_VALUES`).
pub fn completion(values: Vec<String>) -> CompleteResult {
    let total = u32::try_from(values.len()).ok();
    let mut info = CompletionInfo::default();
    info.values = values;
    info.total = total;
    info.has_more = Some(false);
    CompleteResult::new(info)
}

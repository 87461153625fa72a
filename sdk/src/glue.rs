//! Glue used by [`plugin!`](crate::plugin); not a stable API.
use super::*;
use crate::bindings::exports::proxmcp::plugin::resources as res;
use crate::bindings::exports::proxmcp::plugin::tools as wit;

pub use crate::bindings::exports::proxmcp::plugin::resources::Guest as ResourcesGuest;
pub use crate::bindings::exports::proxmcp::plugin::tools::Guest as ToolsGuest;
pub use serde_json::Value;

/// `list-tools` for plugin `P`.
pub fn list_tools<P: Plugin>() -> Vec<wit::Tool> {
    P::tools()
        .into_iter()
        .map(|t| wit::Tool {
            name: t.name,
            title: t.title,
            description: t.description,
            input_schema: t.input_schema.to_string(),
            output_schema: t.output_schema.map(|s| s.to_string()),
            hints: wit::Hints {
                read_only: t.hints.read_only,
                destructive: t.hints.destructive,
                idempotent: t.hints.idempotent,
                open_world: t.hints.open_world,
            },
        })
        .collect()
}

/// `list-resources` and `list-templates` for plugin `P`.
pub fn list_resources<P: Plugin>(templates: bool) -> Vec<res::ResourceTemplate> {
    P::resources()
        .into_iter()
        .filter(|r| r.is_template() == templates)
        .map(|r| res::ResourceTemplate {
            uri_template: r.uri,
            name: r.name,
            title: r.title,
            description: r.description,
            mime_type: r.mime_type,
            ttl_ms: r.ttl_ms,
        })
        .collect()
}

/// A template record as a fixed resource's record.
pub fn fixed(t: res::ResourceTemplate) -> res::ListedResource {
    res::ListedResource {
        uri: t.uri_template,
        name: t.name,
        title: t.title,
        description: t.description,
        mime_type: t.mime_type,
        ttl_ms: t.ttl_ms,
    }
}

/// `read-resource` for plugin `P`.
pub fn read_resource<P: Plugin>(uri: &str) -> Result<res::Contents, wit::ToolError> {
    P::read(uri).map(|c| res::Contents { mime_type: c.mime_type, text: c.text }).map_err(to_wit)
}

/// `complete` for plugin `P`.
pub fn complete<P: Plugin>(argument: &str, value: &str) -> Result<Vec<String>, wit::ToolError> {
    P::complete(argument, value).map_err(to_wit)
}

fn to_wit(e: ToolError) -> wit::ToolError {
    match e {
        ToolError::InvalidArguments(m) => wit::ToolError::InvalidArguments(m),
        ToolError::UnknownTool(m) => wit::ToolError::UnknownTool(m),
        ToolError::Api(e) => wit::ToolError::Api(e),
        ToolError::Other(m) => wit::ToolError::Other(m),
    }
}

/// `call-tool` for plugin `P`.
pub fn call_tool<P: Plugin>(name: &str, arguments: &str) -> Result<wit::Output, wit::ToolError> {
    let args: Value = if arguments.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(arguments)
            .map_err(|e| wit::ToolError::InvalidArguments(format!("arguments are not JSON: {e}")))?
    };
    match P::call(name, args) {
        Ok(out) => Ok(wit::Output { structured: out.structured.map(|v| v.to_string()), text: out.text }),
        Err(e) => Err(to_wit(e)),
    }
}

/// The manifest's length in bytes (see [`manifest`]).
pub const fn manifest_len(name: &str, version: &str, description: &str, grants: &[&[&str]]) -> usize {
    render::<0>(name, version, description, grants).1
}

/// The manifest JSON (contract version, name, version, description and
/// grants, the lists joined), written at compile time into an array so
/// it can live in a `#[link_section]` static. `N` is [`manifest_len`].
pub const fn manifest<const N: usize>(name: &str, version: &str, description: &str, grants: &[&[&str]]) -> [u8; N] {
    render::<N>(name, version, description, grants).0
}

/// Writes the manifest into `[u8; N]` as far as it fits and returns
/// the full length, so `N = 0` measures it.
const fn render<const N: usize>(name: &str, version: &str, description: &str, grants: &[&[&str]]) -> ([u8; N], usize) {
    let mut out = [0u8; N];
    let mut at = put(&mut out, 0, b"{\"contract\":", false);
    at = put(&mut out, at, CONTRACT_VERSION.as_bytes(), true);
    at = put(&mut out, at, b",\"name\":", false);
    at = put(&mut out, at, name.as_bytes(), true);
    at = put(&mut out, at, b",\"version\":", false);
    at = put(&mut out, at, version.as_bytes(), true);
    at = put(&mut out, at, b",\"description\":", false);
    at = put(&mut out, at, description.as_bytes(), true);
    at = put(&mut out, at, b",\"grants\":[", false);
    let mut first = true;
    let mut l = 0;
    while l < grants.len() {
        let mut g = 0;
        while g < grants[l].len() {
            if seen_before(grants, l, g) {
                g += 1;
                continue;
            }
            if !first {
                at = put(&mut out, at, b",", false);
            }
            first = false;
            at = put(&mut out, at, grants[l][g].as_bytes(), true);
            g += 1;
        }
        l += 1;
    }
    at = put(&mut out, at, b"]}", false);
    (out, at)
}

/// Whether grant `g` of list `l` came earlier (lists may share one).
const fn seen_before(grants: &[&[&str]], l: usize, g: usize) -> bool {
    let this = grants[l][g].as_bytes();
    let (mut i, mut j) = (0, 0);
    while i < l || (i == l && j < g) {
        if j >= grants[i].len() {
            i += 1;
            j = 0;
            continue;
        }
        let other = grants[i][j].as_bytes();
        if other.len() == this.len() {
            let mut k = 0;
            while k < this.len() && this[k] == other[k] {
                k += 1;
            }
            if k == this.len() {
                return true;
            }
        }
        j += 1;
    }
    false
}

/// Puts `s` at `at` (quoted and escaped as a JSON string if `string`);
/// returns where the next part goes. Bytes past the array are counted,
/// not written.
const fn put<const N: usize>(out: &mut [u8; N], mut at: usize, s: &[u8], string: bool) -> usize {
    if string {
        at = put(out, at, b"\"", false);
    }
    let mut i = 0;
    while i < s.len() {
        let escape = string && (s[i] == b'"' || s[i] == b'\\');
        if escape {
            if at < N {
                out[at] = b'\\';
            }
            at += 1;
        }
        if at < N {
            out[at] = s[i];
        }
        at += 1;
        i += 1;
    }
    if string {
        at = put(out, at, b"\"", false);
    }
    at
}

/// Declares a plugin: exports its tools and embeds its manifest.
///
/// - `plugin`: the type implementing [`Plugin`]; or instead
///   `router`: a function returning the plugin's
///   [`Router`](router::Router) (feature `schema`), which lists and runs the
///   tools;
/// - `name`: the plugin's name (lowercase, `-` allowed), unique per host;
/// - `description`: one line for `proxmcp plugins list`;
/// - `grants`: the requests the plugin needs, each `"METHOD /path/pattern"`,
///   where `*` matches one path segment and a final `**` any rest; or
///   instead `grant_lists`: constants of type `&[&str]`, so each file of a
///   plugin can keep its grants beside its tools. The operator's config may
///   narrow or widen them; the host enforces the result on every request.
#[macro_export]
macro_rules! plugin {
    (router: $router:path, name: $name:literal, description: $description:literal,
     grants: [$($grant:literal),* $(,)?] $(,)?) => {
        $crate::plugin!(@router $router, $name, $description, &[&[$($grant),*]]);
    };
    (router: $router:path, name: $name:literal, description: $description:literal,
     grant_lists: [$($list:expr),* $(,)?] $(,)?) => {
        $crate::plugin!(@router $router, $name, $description, &[$($list),*]);
    };
    (plugin: $plugin:ty, name: $name:literal, description: $description:literal,
     grants: [$($grant:literal),* $(,)?] $(,)?) => {
        $crate::plugin!(@export $plugin, $name, $description, &[&[$($grant),*]]);
    };
    (plugin: $plugin:ty, name: $name:literal, description: $description:literal,
     grant_lists: [$($list:expr),* $(,)?] $(,)?) => {
        $crate::plugin!(@export $plugin, $name, $description, &[$($list),*]);
    };
    (@router $router:path, $name:literal, $description:literal, $grants:expr) => {
        struct __ProxmcpRouted;

        impl $crate::Plugin for __ProxmcpRouted {
            fn tools() -> ::std::vec::Vec<$crate::ToolDef> {
                $router().tools()
            }
            fn call(name: &str, args: $crate::__private::Value) -> ::std::result::Result<$crate::Output, $crate::ToolError> {
                $router().call(name, args)
            }
            fn resources() -> ::std::vec::Vec<$crate::resources::ResourceDef> {
                $router().resources()
            }
            fn read(uri: &str) -> ::std::result::Result<$crate::resources::Contents, $crate::ToolError> {
                $router().read_resource(uri)
            }
            fn complete(argument: &str, value: &str) -> ::std::result::Result<::std::vec::Vec<::std::string::String>, $crate::ToolError> {
                $router().complete(argument, value)
            }
        }

        $crate::plugin!(@export __ProxmcpRouted, $name, $description, $grants);
    };
    (@export $plugin:ty, $name:literal, $description:literal, $grants:expr) => {
        struct __ProxmcpExports;

        impl $crate::__private::ToolsGuest for __ProxmcpExports {
            fn list_tools() -> ::std::vec::Vec<$crate::bindings::exports::proxmcp::plugin::tools::Tool> {
                $crate::__private::list_tools::<$plugin>()
            }
            fn call_tool(
                name: ::std::string::String,
                arguments: ::std::string::String,
            ) -> ::std::result::Result<
                $crate::bindings::exports::proxmcp::plugin::tools::Output,
                $crate::bindings::exports::proxmcp::plugin::tools::ToolError,
            > {
                $crate::__private::call_tool::<$plugin>(&name, &arguments)
            }
        }

        impl $crate::__private::ResourcesGuest for __ProxmcpExports {
            fn list_resources() -> ::std::vec::Vec<$crate::bindings::exports::proxmcp::plugin::resources::ListedResource> {
                $crate::__private::list_resources::<$plugin>(false).into_iter().map($crate::__private::fixed).collect()
            }
            fn list_templates() -> ::std::vec::Vec<$crate::bindings::exports::proxmcp::plugin::resources::ResourceTemplate> {
                $crate::__private::list_resources::<$plugin>(true)
            }
            fn read_resource(
                uri: ::std::string::String,
            ) -> ::std::result::Result<
                $crate::bindings::exports::proxmcp::plugin::resources::Contents,
                $crate::bindings::exports::proxmcp::plugin::tools::ToolError,
            > {
                $crate::__private::read_resource::<$plugin>(&uri)
            }
            fn complete(
                argument: ::std::string::String,
                value: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::vec::Vec<::std::string::String>,
                $crate::bindings::exports::proxmcp::plugin::tools::ToolError,
            > {
                $crate::__private::complete::<$plugin>(&argument, &value)
            }
        }

        $crate::bindings::export!(__ProxmcpExports with_types_in $crate::bindings);

        const __PROXMCP_GRANTS: &[&[&str]] = $grants;
        const __PROXMCP_MANIFEST_LEN: usize =
            $crate::__private::manifest_len($name, env!("CARGO_PKG_VERSION"), $description, __PROXMCP_GRANTS);

        #[cfg_attr(target_arch = "wasm32", unsafe(link_section = "proxmcp-manifest"))]
        #[used]
        static __PROXMCP_MANIFEST: [u8; __PROXMCP_MANIFEST_LEN] = $crate::__private::manifest(
            $name,
            env!("CARGO_PKG_VERSION"),
            $description,
            __PROXMCP_GRANTS,
        );
    };
}

//! Tools declared once (feature `schema`).
//!
//! A tool is one [`Router::read`] or [`Router::write`] line: name, title,
//! description and a handler whose argument and answer types carry the
//! tool's JSON Schemas. The router lists the tools, parses arguments into
//! the handler's type, and for writes takes `confirm` and `dry_run` out of
//! the arguments (the host enforces them) and hands the handler a
//! [`Writes`] that records instead of sending in a dry run. Routers of
//! several files merge with [`Router::merge`], as rmcp's tool routers do.
//!
//! ```ignore
//! fn router() -> Router {
//!     Router::new()
//!         .read("demo_version", "Get version", "Proxmox version.", version)
//!         .write("demo_start", "Start VM", "Start a guest.", Hints::WRITE, start)
//! }
//! fn version(_: NoArgs) -> Result<Answer<Version>, ToolError> { ... }
//! fn start(a: OnGuest<NoArgs>, w: &mut Writes) -> Result<Answer<Outcome>, ToolError> { ... }
//! ```

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::resources::{Contents, ResourceDef, Vars, unknown_resource};
use crate::write::Writes;
use crate::{Answer, Hints, Output, ToolDef, ToolError, invalid_arguments, take_write_flags};

/// The arguments of a tool that takes none: any argument is refused.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

type Handler = Box<dyn Fn(Value) -> Result<Output, ToolError>>;

struct Route {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    hints: Hints,
    input: fn() -> Value,
    output: fn() -> Option<Value>,
    run: Handler,
}

/// How a resource is read: by one of the router's tools, given the URI's
/// variables as arguments, or by a function of its own.
enum Source {
    Tool(&'static str),
    Function(Box<dyn Fn(Vars) -> Result<Value, ToolError>>),
}

/// The tools of a plugin (or of one of its files), each declared once, and
/// the resources and completions it offers.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    resources: Vec<(ResourceDef, Source)>,
    completions: Vec<(&'static str, Completer)>,
}

type Completer = Box<dyn Fn(&str) -> Result<Vec<String>, ToolError>>;

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// A read-only tool: `handler` gets the arguments parsed into `A` and
    /// answers `O`; both schemas are derived from the types.
    pub fn read<A, O, F>(
        mut self,
        name: &'static str,
        title: &'static str,
        description: &'static str,
        handler: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        O: Serialize + JsonSchema,
        F: Fn(A) -> Result<Answer<O>, ToolError> + 'static,
    {
        self.routes.push(Route {
            name,
            title,
            description,
            hints: Hints::READ_ONLY,
            input: input_schema::<A>,
            output: output_schema::<O>,
            run: Box::new(move |args| handler(parse_typed(args, input_schema::<A>, false)?)?.into_output()),
        });
        self
    }

    /// A tool that changes the cluster: its schema gains `confirm` and
    /// `dry_run`, which are checked and taken out before `A` is parsed;
    /// `handler` sends through the [`Writes`] it is given, which in a dry
    /// run records the requests instead.
    pub fn write<A, O, F>(
        mut self,
        name: &'static str,
        title: &'static str,
        description: &'static str,
        hints: Hints,
        handler: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        O: Serialize + JsonSchema,
        F: Fn(A, &mut Writes) -> Result<Answer<O>, ToolError> + 'static,
    {
        self.routes.push(Route {
            name,
            title,
            description,
            hints,
            input: write_input_schema::<A>,
            output: output_schema::<O>,
            run: Box::new(move |args| {
                let mut writes = Writes::from_args(&args);
                handler(parse_typed(args, input_schema::<A>, true)?, &mut writes)?.into_output()
            }),
        });
        self
    }

    /// This router's tools, resources and completions followed by
    /// `other`'s.
    pub fn merge(mut self, other: Router) -> Self {
        self.routes.extend(other.routes);
        self.resources.extend(other.resources);
        self.completions.extend(other.completions);
        self
    }

    /// A resource (or template) read by calling this router's tool `tool`
    /// with the URI's variables as arguments; its contents are the tool's
    /// structured answer as JSON. A resource costs no `tools/list` bytes, so
    /// a tool that serves one may be listed anyway or kept for resources.
    pub fn resource(mut self, def: ResourceDef, tool: &'static str) -> Self {
        self.resources.push((def, Source::Tool(tool)));
        self
    }

    /// A resource (or template) read by `read`, given the URI's variables.
    pub fn resource_with<F>(mut self, def: ResourceDef, read: F) -> Self
    where
        F: Fn(Vars) -> Result<Value, ToolError> + 'static,
    {
        self.resources.push((def, Source::Function(Box::new(read))));
        self
    }

    /// Completion of template variable `argument`: `complete` gets the
    /// typed prefix and answers matching values, best first.
    pub fn completion<F>(mut self, argument: &'static str, complete: F) -> Self
    where
        F: Fn(&str) -> Result<Vec<String>, ToolError> + 'static,
    {
        self.completions.push((argument, Box::new(complete)));
        self
    }

    /// The resources' and templates' definitions.
    pub fn resources(&self) -> Vec<ResourceDef> {
        self.resources.iter().map(|(def, _)| def.clone()).collect()
    }

    /// Reads resource `uri`.
    pub fn read_resource(&self, uri: &str) -> Result<Contents, ToolError> {
        let Some((vars, source)) = self.resources.iter().find_map(|(def, s)| def.capture(uri).map(|v| (v, s))) else {
            return Err(unknown_resource(uri));
        };
        let value = match source {
            Source::Tool(tool) => {
                self.check_vars(tool, uri, &vars)?;
                self.call(tool, vars.into_args())?.structured.unwrap_or(Value::Null)
            }
            Source::Function(read) => read(vars)?,
        };
        Ok(Contents::json(&value))
    }

    /// A variable the serving tool takes as a number must read as one: the
    /// error names the variable and the URI, not the tool's arguments.
    fn check_vars(&self, tool: &str, uri: &str, vars: &Vars) -> Result<(), ToolError> {
        let Some(route) = self.routes.iter().find(|r| r.name == tool) else { return Ok(()) };
        let schema = (route.input)();
        for (name, value) in &vars.0 {
            let kind = schema.pointer(&format!("/properties/{name}/type")).and_then(Value::as_str);
            let text = value.as_str().unwrap_or_default();
            if matches!(kind, Some("integer")) && text.parse::<u64>().is_err() {
                return Err(ToolError::InvalidArguments(format!(
                    "{name} in {uri:?} must be a whole number, not {text:?}"
                )));
            }
        }
        Ok(())
    }

    /// Values for template variable `argument` starting with `value`; none
    /// for a variable without a completion.
    pub fn complete(&self, argument: &str, value: &str) -> Result<Vec<String>, ToolError> {
        match self.completions.iter().find(|(name, _)| *name == argument) {
            Some((_, complete)) => complete(value),
            None => Ok(Vec::new()),
        }
    }

    /// The tools' definitions, schemas derived now (listing only).
    pub fn tools(&self) -> Vec<ToolDef> {
        self.routes
            .iter()
            .map(|r| {
                let def = ToolDef::new(r.name, r.description, (r.input)()).title(r.title).hints(r.hints);
                match (r.output)() {
                    Some(schema) => def.output_schema(schema),
                    None => def,
                }
            })
            .collect()
    }

    /// Runs tool `name`.
    pub fn call(&self, name: &str, args: Value) -> Result<Output, ToolError> {
        match self.routes.iter().find(|r| r.name == name) {
            Some(route) => (route.run)(args),
            None => Err(ToolError::UnknownTool(name.to_string())),
        }
    }

    /// The names of the tools, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.routes.iter().map(|r| r.name)
    }
}

/// Parses arguments into `A` (for a write, after `confirm` and `dry_run`
/// are checked and taken out); when that fails, once more with numbers the
/// model wrote as strings (`"vmid": "100"`) turned into the numbers the
/// schema asks for. The first complaint stands if that does not help.
fn parse_typed<A: DeserializeOwned>(mut args: Value, schema: fn() -> Value, write: bool) -> Result<A, ToolError> {
    if write {
        take_write_flags(&mut args)?;
    }
    // By reference, so the retry needs no copy of the arguments.
    let first = match A::deserialize(&args) {
        Ok(a) => return Ok(a),
        Err(e) => e,
    };
    if numbers_from_strings(&mut args, &schema())
        && let Ok(a) = A::deserialize(&args)
    {
        return Ok(a);
    }
    Err(invalid_arguments(first))
}

/// Turns each string that the schema types as an integer or number and
/// that reads as one into that number; whether any was.
fn numbers_from_strings(args: &mut Value, schema: &Value) -> bool {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return false };
    let Some(args) = args.as_object_mut() else { return false };
    let mut changed = false;
    for (key, value) in args {
        let Some(text) = value.as_str() else { continue };
        let number = match props.get(key).and_then(|p| p.get("type")).and_then(Value::as_str) {
            Some("integer") => text.trim().parse::<i64>().ok().map(Value::from),
            Some("number") => {
                text.trim().parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            }
            _ => None,
        };
        if let Some(n) = number {
            *value = n;
            changed = true;
        }
    }
    changed
}

/// The input schema of a tool taking `A`: derived, inlined, and trimmed to
/// what a client needs (no titles, formats, empty defaults or `null` in
/// types: an absent argument is how a caller leaves one out).
pub fn input_schema<A: JsonSchema>() -> Value {
    let mut schema = derive::<A>(SchemaSettings::draft2020_12().for_deserialize());
    trim(&mut schema, Side::Input);
    if let Some(root) = schema.as_object_mut() {
        // The tool's description speaks for its argument type.
        root.remove("description");
        // Clients look arguments up under `properties`, even when there are none.
        root.entry("properties").or_insert_with(|| json!({}));
    }
    schema
}

/// [`input_schema`] plus the `dry_run` and `confirm` arguments every write
/// tool takes.
pub fn write_input_schema<A: JsonSchema>() -> Value {
    let mut schema = input_schema::<A>();
    if let Some(props) = schema.get_mut("properties") {
        props["dry_run"] = json!({"type": "boolean", "description": "List the requests without sending them."});
        props["confirm"] = json!({"type": "boolean", "description": "Must be true to act; ask the user first."});
    }
    schema
}

/// The output schema of an answer `O`, or `None` when `O` is free-form
/// JSON. Descriptions are left out: the tool's description speaks for it.
pub fn output_schema<O: JsonSchema>() -> Option<Value> {
    let mut schema = derive::<O>(SchemaSettings::draft2020_12().for_serialize());
    trim(&mut schema, Side::Output);
    schema.is_object().then_some(schema).filter(|s| s.get("type").is_some())
}

fn derive<T: JsonSchema>(settings: SchemaSettings) -> Value {
    let generator = settings.with(|s| s.inline_subschemas = true).into_generator();
    generator.into_root_schema_for::<T>().to_value()
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Input,
    Output,
}

fn trim(schema: &mut Value, side: Side) {
    let Value::Object(map) = schema else { return };
    for key in ["$schema", "title", "format"] {
        map.remove(key);
    }
    if side == Side::Output {
        map.remove("description");
        if map.get("minimum") == Some(&json!(0)) {
            map.remove("minimum");
        }
    }
    if map.get("default").is_some_and(is_empty) {
        map.remove("default");
    }
    if side == Side::Input {
        drop_null_type(map);
    } else {
        shorten_output_object(map);
    }
    consts_to_enum(map);
    recurse(map, side);
}

fn recurse(map: &mut Map<String, Value>, side: Side) {
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" => {
                if let Value::Object(props) = value {
                    props.values_mut().for_each(|v| trim(v, side));
                }
            }
            "enum" | "const" | "required" | "default" | "examples" => {}
            _ => match value {
                Value::Array(items) => items.iter_mut().for_each(|v| trim(v, side)),
                other => trim(other, side),
            },
        }
    }
}

/// Output objects say what a client must expect in fewer bytes: a field
/// left out when empty is never null, and a field that may be null is not
/// listed as required (null and absent read the same).
fn shorten_output_object(map: &mut Map<String, Value>) {
    let required = map.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    let Some(Value::Object(props)) = map.get_mut("properties") else { return };
    let mut nullable = Vec::new();
    for (name, prop) in props.iter_mut() {
        let Value::Object(prop) = prop else { continue };
        if !required.iter().any(|r| r == name) {
            drop_null_type(prop);
        } else if prop.get("type").and_then(Value::as_array).is_some_and(|t| t.iter().any(|t| t == "null")) {
            nullable.push(name.clone());
        }
    }
    if let Some(Value::Array(required)) = map.get_mut("required") {
        required.retain(|r| r.as_str().is_none_or(|r| !nullable.iter().any(|n| n == r)));
        if required.is_empty() {
            map.remove("required");
        }
    }
}

/// A unit enum with documented variants derives as `oneOf` of `const`s;
/// an `enum` list says the same.
fn consts_to_enum(map: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = map.get("oneOf") else { return };
    let consts: Option<Vec<Value>> = branches.iter().map(|b| b.get("const").cloned()).collect();
    let kind = branches.first().and_then(|b| b.get("type")).cloned();
    if let (Some(consts), Some(kind)) = (consts, kind)
        && branches.iter().all(|b| b.get("type") == Some(&kind) && b.as_object().is_some_and(|o| o.len() <= 3))
    {
        map.remove("oneOf");
        map.insert("type".into(), kind);
        map.insert("enum".into(), Value::Array(consts));
    }
}

/// `["string", "null"]` becomes `"string"`; `null` among `enum` values and
/// `anyOf` branches goes.
fn drop_null_type(map: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(key) {
            branches.retain(|b| b.get("type") != Some(&json!("null")));
            if branches.len() == 1
                && let Some(Value::Object(only)) = branches.pop()
            {
                map.remove(key);
                map.extend(only);
            }
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arguments with the shapes the built-in tools use.
    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        /// Guest id.
        #[schemars(range(min = 100))]
        vmid: u32,
        #[serde(rename = "type")]
        #[schemars(extend("enum" = ["qemu", "lxc"]))]
        kind: Option<String>,
        #[serde(default)]
        delete: Vec<String>,
    }

    #[derive(Serialize, JsonSchema)]
    #[allow(dead_code)]
    enum State {
        /// Documented variants derive as `oneOf`; outputs show an `enum`.
        Done,
        /// Still going.
        Running,
    }

    #[derive(Serialize, JsonSchema)]
    struct Out {
        /// Not shown: outputs carry no descriptions.
        count: u64,
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        upid: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        state: Option<State>,
    }

    #[test]
    fn input_schemas_are_inlined_and_trimmed() {
        let s = input_schema::<Args>();
        assert_eq!(
            s,
            json!({"type": "object", "additionalProperties": false, "required": ["vmid"], "properties": {
                "vmid": {"type": "integer", "minimum": 100, "description": "Guest id."},
                "type": {"type": "string", "enum": ["qemu", "lxc"]},
                "delete": {"type": "array", "items": {"type": "string"}}
            }})
        );
        assert_eq!(
            input_schema::<NoArgs>(),
            json!({"type": "object", "additionalProperties": false, "properties": {}}),
            "clients look for properties even when there are none"
        );
        let w = write_input_schema::<Args>();
        assert_eq!(w["properties"]["confirm"]["type"], "boolean");
        assert_eq!(w["properties"]["dry_run"]["type"], "boolean");
    }

    #[test]
    fn output_schemas_keep_nulls_and_lose_descriptions() {
        let s = output_schema::<Out>().unwrap();
        assert_eq!(
            s,
            json!({"type": "object", "required": ["count"], "properties": {
                "count": {"type": "integer"},
                "name": {"type": ["string", "null"]},
                "upid": {"type": "string"},
                "state": {"type": "string", "enum": ["Done", "Running"]}
            }})
        );
        assert_eq!(output_schema::<Value>(), None, "free-form answers declare no schema");
    }

    fn echo(a: Args) -> Result<Answer<Out>, ToolError> {
        Ok(Answer::new(Out { count: a.delete.len() as u64, name: a.kind, upid: None, state: None }, "echoed"))
    }

    fn plan(a: NoArgs, w: &mut Writes) -> Result<Answer<bool>, ToolError> {
        let _ = a;
        Ok(Answer::new(w.is_dry_run(), "planned"))
    }

    #[test]
    fn the_router_parses_typed_arguments_and_handles_confirm_and_dry_run() {
        let r = Router::new().read("t_echo", "Echo", "Echo.", echo).merge(Router::new().write(
            "t_plan",
            "Plan",
            "Plan.",
            Hints::WRITE,
            plan,
        ));
        assert_eq!(r.names().collect::<Vec<_>>(), ["t_echo", "t_plan"]);
        let out = r.call("t_echo", json!({"vmid": 100, "type": "lxc", "delete": ["a", "b"]})).unwrap();
        assert_eq!(out.structured, Some(json!({"count": 2, "name": "lxc"})));
        assert!(matches!(r.call("t_echo", json!({"vmid": 100, "confirm": true})), Err(ToolError::InvalidArguments(_))));
        let planned = r.call("t_plan", json!({"confirm": true, "dry_run": true})).unwrap();
        assert_eq!(planned.structured, Some(json!(true)));
        assert!(matches!(r.call("t_plan", json!({"confirm": "yes"})), Err(ToolError::InvalidArguments(_))));
        assert!(matches!(r.call("t_nope", json!({})), Err(ToolError::UnknownTool(n)) if n == "t_nope"));
        // A number written as a string is read as the number the schema asks for.
        let out = r.call("t_echo", json!({"vmid": "100", "type": "lxc"})).unwrap();
        assert_eq!(out.structured, Some(json!({"count": 0, "name": "lxc"})));
        let bad = r.call("t_echo", json!({"vmid": "a hundred"}));
        assert!(matches!(&bad, Err(ToolError::InvalidArguments(m)) if m.contains("a hundred")), "{bad:?}");
        let tools = r.tools();
        assert_eq!(tools[1].hints, Hints::WRITE);
        assert!(tools[1].input_schema["properties"]["confirm"].is_object());
        assert_eq!(tools[1].output_schema, Some(json!({"type": "boolean"})));
    }
}

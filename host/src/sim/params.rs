//! Parameter verification the way PVE's JSON-schema checker answers:
//! unknown parameters, missing ones and type errors produce a 400
//! "Parameter verification failed." with one message per field, in PVE's
//! own words.

use std::collections::BTreeMap;

/// The type of one parameter.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// Any string.
    Str,
    /// An integer within bounds.
    Int(i64, i64),
    /// A number.
    Num,
    /// PVE boolean: 0/1, true/false in JSON bodies.
    Bool,
    /// One of the listed strings.
    Enum(&'static [&'static str]),
}

/// One parameter of an endpoint.
#[derive(Debug, Clone, Copy)]
pub struct P {
    /// Name.
    pub name: &'static str,
    /// Type.
    pub ty: Ty,
    /// Required.
    pub required: bool,
}

/// Optional parameter.
pub const fn opt(name: &'static str, ty: Ty) -> P {
    P { name, ty, required: false }
}

/// Required parameter.
pub const fn req(name: &'static str, ty: Ty) -> P {
    P { name, ty, required: true }
}

/// The vmid range PVE accepts.
pub const VMID: Ty = Ty::Int(100, 999_999_999);

/// Parameters as received: each key with its values (repeated keys allowed).
pub type Params = BTreeMap<String, Vec<String>>;

/// Checks `params` against `spec`; `Err` holds PVE's per-field messages.
pub fn verify(params: &Params, spec: &[P]) -> Result<(), BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    for (key, values) in params {
        let Some(p) = spec.iter().find(|p| p.name == key) else {
            errors.insert(
                key.clone(),
                "property is not defined in schema and the schema does not allow additional properties".to_string(),
            );
            continue;
        };
        for value in values {
            if let Some(msg) = check(p.ty, value) {
                errors.insert(key.clone(), msg);
                break;
            }
        }
    }
    for p in spec.iter().filter(|p| p.required) {
        if !params.contains_key(p.name) {
            errors.insert(p.name.to_string(), "property is missing and it is not optional".to_string());
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn check(ty: Ty, value: &str) -> Option<String> {
    match ty {
        Ty::Str => None,
        Ty::Int(min, max) => match value.parse::<i64>() {
            Err(_) => Some(format!("type check ('integer') failed - got '{value}'")),
            Ok(n) if n < min => Some(format!("value must have a minimum value of {min}")),
            Ok(n) if n > max => Some(format!("value must have a maximum value of {max}")),
            Ok(_) => None,
        },
        Ty::Num => value.parse::<f64>().is_err().then(|| format!("type check ('number') failed - got '{value}'")),
        Ty::Bool => (!matches!(value, "0" | "1" | "true" | "false"))
            .then(|| format!("type check ('boolean') failed - got '{value}'")),
        Ty::Enum(values) => (!values.contains(&value))
            .then(|| format!("value '{value}' does not have a value in the enumeration '{}'", values.join(", "))),
    }
}

/// Whether a PVE boolean parameter is set to true.
pub fn truthy(params: &Params, key: &str) -> bool {
    params.get(key).and_then(|v| v.first()).is_some_and(|v| v == "1" || v == "true")
}

/// The first value of a parameter.
pub fn first<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params.get(key).and_then(|v| v.first()).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::new();
        for (k, v) in pairs {
            p.entry(k.to_string()).or_default().push(v.to_string());
        }
        p
    }

    #[test]
    fn unknown_missing_and_mistyped_parameters_are_reported_per_field() {
        let spec = [req("snapname", Ty::Str), opt("vmstate", Ty::Bool), opt("timeout", Ty::Int(0, 3600))];
        let errs = verify(&params(&[("vmstate", "yes"), ("timeout", "-1"), ("colour", "red")]), &spec).unwrap_err();
        assert_eq!(errs["vmstate"], "type check ('boolean') failed - got 'yes'");
        assert_eq!(errs["timeout"], "value must have a minimum value of 0");
        assert!(errs["colour"].contains("not defined in schema"));
        assert_eq!(errs["snapname"], "property is missing and it is not optional");
        assert!(verify(&params(&[("snapname", "a"), ("vmstate", "1")]), &spec).is_ok());
    }
}

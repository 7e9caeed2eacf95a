//! A small JSON Schema validator for the subset `docs/openapi.json` uses (OpenAPI 3.1, i.e.
//! JSON Schema 2020-12): `$ref` to a local pointer, `type` (one or a list), `enum`, `const`,
//! `properties`, `required`, `additionalProperties` (bool or schema), `items`, `minItems`,
//! `maxItems`, `minLength`, `maxLength` (in characters), `minimum`, `maximum`, `oneOf`, `anyOf`,
//! `allOf`. Annotations (`description`, `pattern`, …) are not checked.
//!
//! Why not the `jsonschema` crate: `cargo tree` resolves version 0.33 to 116 crates (79 without
//! default features), `regex`, `fancy-regex`, `num-bigint` and `idna` among them, plus by default
//! a second `reqwest` (0.12) beside ours, all to be built on a 2-core machine for the dozen
//! keywords this document uses. Any keyword outside the subset is an error
//! ([`Schemas::lint`]), so the document cannot lean on a rule this validator would skip.

use serde_json::Value;

/// Keywords that only describe: accepted anywhere, never checked. `pattern` is documentation
/// for readers and generators here (no regex engine in the test build).
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "example",
    "examples",
    "format",
    "default",
    "deprecated",
    "pattern",
    "contentMediaType",
];

const CHECKED: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "oneOf",
    "anyOf",
    "allOf",
];

/// A document whose schemas may refer to each other with `{"$ref": "#/…"}`.
pub struct Schemas<'a> {
    pub root: &'a Value,
}

impl<'a> Schemas<'a> {
    /// Checks `value` against `schema`; the error names the JSON path and the rule broken.
    pub fn validate(&self, schema: &Value, value: &Value) -> Result<(), String> {
        self.check(schema, value, "$")
    }

    /// The schema a `#/a/b` pointer names.
    pub fn resolve(&self, pointer: &str) -> Result<&'a Value, String> {
        let path = pointer
            .strip_prefix('#')
            .ok_or_else(|| format!("only local $refs are supported: {pointer}"))?;
        self.root
            .pointer(path)
            .ok_or_else(|| format!("$ref {pointer} points nowhere"))
    }

    /// Every keyword of `schema` and its subschemas is in the subset, and every `$ref` resolves.
    pub fn lint(&self, schema: &Value, at: &str) -> Result<(), String> {
        let Value::Object(map) = schema else {
            return match schema {
                Value::Bool(_) => Ok(()),
                _ => Err(format!("{at}: a schema must be an object")),
            };
        };
        for (key, sub) in map {
            let here = format!("{at}/{key}");
            match key.as_str() {
                "$ref" => {
                    self.resolve(sub.as_str().unwrap_or_default())?;
                }
                "properties" => {
                    for (name, s) in sub.as_object().ok_or(format!("{here}: not an object"))? {
                        self.lint(s, &format!("{here}/{name}"))?;
                    }
                }
                "items" | "additionalProperties" => self.lint(sub, &here)?,
                "oneOf" | "anyOf" | "allOf" => {
                    for (n, s) in sub
                        .as_array()
                        .ok_or(format!("{here}: not a list"))?
                        .iter()
                        .enumerate()
                    {
                        self.lint(s, &format!("{here}/{n}"))?;
                    }
                }
                k if CHECKED.contains(&k) || ANNOTATIONS.contains(&k) => {}
                k => {
                    return Err(format!(
                        "{at}: keyword `{k}` is outside the validated subset"
                    ))
                }
            }
        }
        Ok(())
    }

    fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let map = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{at}: no value is allowed here")),
            Value::Object(map) => map,
            _ => return Err(format!("{at}: the schema is not an object")),
        };
        if let Some(pointer) = map.get("$ref").and_then(Value::as_str) {
            self.check(self.resolve(pointer)?, value, at)?;
        }
        if let Some(types) = map.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => return Err(format!("{at}: bad `type` in the schema")),
            };
            if !allowed.iter().any(|t| is_type(value, t)) {
                return Err(format!("{at}: {value} is not of type {allowed:?}"));
            }
        }
        if let Some(options) = map.get("enum").and_then(Value::as_array) {
            if !options.contains(value) {
                return Err(format!("{at}: {value} is not one of {options:?}"));
            }
        }
        if let Some(expected) = map.get("const") {
            if expected != value {
                return Err(format!("{at}: {value} is not {expected}"));
            }
        }
        let number = |key: &str| map.get(key).and_then(Value::as_f64);
        if let Some(n) = value.as_f64() {
            if number("minimum").is_some_and(|min| n < min) {
                return Err(format!("{at}: {n} is below the minimum"));
            }
            if number("maximum").is_some_and(|max| n > max) {
                return Err(format!("{at}: {n} is above the maximum"));
            }
        }
        let count = |key: &str| map.get(key).and_then(Value::as_u64).map(|n| n as usize);
        if let Value::String(s) = value {
            let len = s.chars().count();
            if count("minLength").is_some_and(|min| len < min)
                || count("maxLength").is_some_and(|max| len > max)
            {
                return Err(format!("{at}: {s:?} has a length out of bounds"));
            }
        }
        if let Value::Array(items) = value {
            if count("minItems").is_some_and(|min| items.len() < min)
                || count("maxItems").is_some_and(|max| items.len() > max)
            {
                return Err(format!("{at}: {} items is out of bounds", items.len()));
            }
            if let Some(item_schema) = map.get("items") {
                for (n, item) in items.iter().enumerate() {
                    self.check(item_schema, item, &format!("{at}[{n}]"))?;
                }
            }
        }
        if let Value::Object(fields) = value {
            if let Some(required) = map.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !fields.contains_key(name) {
                        return Err(format!("{at}: required field `{name}` is missing"));
                    }
                }
            }
            let properties = map.get("properties").and_then(Value::as_object);
            for (name, field) in fields {
                let here = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(s) => self.check(s, field, &here)?,
                    None => match map.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            return Err(format!("{at}: field `{name}` is not in the document"))
                        }
                        Some(s @ Value::Object(_)) => self.check(s, field, &here)?,
                        _ => {}
                    },
                }
            }
        }
        if let Some(all) = map.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.check(s, value, at)?;
            }
        }
        if let Some(any) = map.get("anyOf").and_then(Value::as_array) {
            let errors: Vec<String> = any
                .iter()
                .filter_map(|s| self.check(s, value, at).err())
                .collect();
            if errors.len() == any.len() {
                return Err(format!("{at}: matches none of anyOf: {errors:#?}"));
            }
        }
        if let Some(one) = map.get("oneOf").and_then(Value::as_array) {
            let results: Vec<Result<(), String>> =
                one.iter().map(|s| self.check(s, value, at)).collect();
            let matched = results.iter().filter(|r| r.is_ok()).count();
            if matched != 1 {
                let errors: Vec<&String> =
                    results.iter().filter_map(|r| r.as_ref().err()).collect();
                return Err(format!(
                    "{at}: matches {matched} of oneOf, not exactly one: {errors:#?}"
                ));
            }
        }
        Ok(())
    }
}

fn is_type(value: &Value, t: &str) -> bool {
    match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Schemas;
    use serde_json::{json, Value};

    fn doc() -> Value {
        json!({"components": {"schemas": {
            "Pair": {"type": "object", "required": ["a"], "additionalProperties": false,
                     "properties": {"a": {"type": "integer", "minimum": 1, "maximum": 3},
                                    "b": {"type": ["string", "null"], "maxLength": 2}}},
            "Kind": {"oneOf": [{"type": "object", "properties": {"k": {"const": "x"}}, "required": ["k"]},
                               {"type": "object", "properties": {"k": {"enum": ["y", "z"]}}, "required": ["k"]}]},
            "List": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Pair"}},
        }}})
    }

    fn check(name: &str, value: Value) -> Result<(), String> {
        let root = doc();
        let schemas = Schemas { root: &root };
        let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
        schemas.validate(&schema, &value)
    }

    #[test]
    fn a_conforming_value_passes() {
        assert_eq!(check("Pair", json!({"a": 2, "b": "xy"})), Ok(()));
        assert_eq!(check("Pair", json!({"a": 3, "b": null})), Ok(()));
        assert_eq!(check("List", json!([{"a": 1}, {"a": 2}])), Ok(()));
        assert_eq!(check("Kind", json!({"k": "z"})), Ok(()));
    }

    #[test]
    fn each_rule_of_the_subset_refuses_what_breaks_it() {
        let fails = |name: &str, v: Value, needle: &str| {
            let e = check(name, v.clone()).expect_err(&format!("{v} must fail {name}"));
            assert!(e.contains(needle), "{e} should mention {needle}");
        };
        fails("Pair", json!({"b": "x"}), "required field `a`");
        fails("Pair", json!({"a": 0}), "below the minimum");
        fails("Pair", json!({"a": 4}), "above the maximum");
        fails("Pair", json!({"a": 1.5}), "not of type");
        fails("Pair", json!({"a": "1"}), "not of type");
        fails("Pair", json!({"a": 1, "b": "xyz"}), "length out of bounds");
        fails(
            "Pair",
            json!({"a": 1, "c": 1}),
            "field `c` is not in the document",
        );
        fails("List", json!([]), "out of bounds");
        fails("List", json!([{"a": 1}, {"a": 9}]), "$[1].a");
        fails("Kind", json!({"k": "w"}), "matches 0 of oneOf");
    }

    #[test]
    fn oneof_refuses_a_value_matching_two_branches() {
        let root = json!({});
        let schemas = Schemas { root: &root };
        let both = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
        assert!(schemas.validate(&both, &json!(1)).is_err());
        assert!(schemas.validate(&both, &json!(1.5)).is_ok());
    }

    #[test]
    fn lint_refuses_unknown_keywords_and_dangling_refs() {
        let root = doc();
        let schemas = Schemas { root: &root };
        assert_eq!(
            schemas.lint(&root["components"]["schemas"]["Pair"], "#"),
            Ok(())
        );
        let unknown = json!({"type": "string", "minContains": 1});
        assert!(schemas
            .lint(&unknown, "#")
            .unwrap_err()
            .contains("minContains"));
        let nested = json!({"properties": {"x": {"uniqueItems": true}}});
        assert!(schemas
            .lint(&nested, "#")
            .unwrap_err()
            .contains("uniqueItems"));
        let dangling = json!({"$ref": "#/components/schemas/Nope"});
        assert!(schemas
            .lint(&dangling, "#")
            .unwrap_err()
            .contains("points nowhere"));
    }
}

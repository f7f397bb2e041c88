//! Document metadata and the filters searches apply to it.
//!
//! Metadata is a flat JSON object per document: strings, numbers, dates (strings in
//! `YYYY-MM-DD` or RFC 3339 form) and lists of strings. A filter is Dify's shape:
//! `{"logical_operator": "and"|"or", "conditions": [{"name", "comparison_operator", "value"}]}`
//! with Dify's operators. Everything here is pure: [`validate`] checks metadata, [`Filter::check`]
//! checks a filter against the fields the documents have, [`Filter::matches`] decides one
//! document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A document's metadata.
pub type Metadata = Map<String, Value>;

/// Fields per document, at most.
pub const MAX_FIELDS: usize = 64;
/// Characters of a field's name, at most.
const MAX_NAME: usize = 64;
/// Characters of a string value (or of each list item), at most.
const MAX_VALUE: usize = 2000;

/// Checks metadata: an object of at most [`MAX_FIELDS`] fields whose names are 1 to 64
/// letters, digits, `_`, `-` or `.`, and whose values are strings, numbers or lists of
/// strings. The error names the field.
pub fn validate(value: &Value) -> Result<Metadata> {
    let Value::Object(map) = value else {
        return Err(Error::bad_request("metadata must be a JSON object"));
    };
    if map.len() > MAX_FIELDS {
        return Err(Error::bad_request(format!(
            "metadata has {} fields, at most {MAX_FIELDS} are allowed",
            map.len()
        )));
    }
    for (name, v) in map {
        let ok_name = !name.is_empty()
            && name.chars().count() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok_name {
            return Err(Error::bad_request(format!(
                "metadata field name {name:?} must be 1 to {MAX_NAME} letters, digits, '_', '-' or '.'"
            )));
        }
        let long = |s: &str| s.chars().count() > MAX_VALUE;
        match v {
            Value::String(s) if !long(s) => {}
            Value::Number(_) => {}
            Value::Array(items)
                if items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| !long(s))) => {}
            _ => {
                return Err(Error::bad_request(format!(
                    "metadata field {name:?} must be a string, a number, a date string or a list of strings (of at most {MAX_VALUE} characters)"
                )))
            }
        }
    }
    Ok(map.clone())
}

/// Metadata sent as text (a form field): a JSON object.
pub fn parse(text: &str) -> Result<Metadata> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::bad_request(format!("metadata is not valid JSON: {e}")))?;
    validate(&v)
}

/// How conditions combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Logic {
    #[default]
    And,
    Or,
}

/// A filter on document metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default)]
    pub logical_operator: Logic,
    pub conditions: Vec<Condition>,
}

/// One condition: `name` (a field, or a list of fields of which any may match) compared by
/// `comparison_operator` with `value` (absent for `empty` and `not empty`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub name: Names,
    pub comparison_operator: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// One field name or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Names {
    One(String),
    Any(Vec<String>),
}

impl Names {
    fn list(&self) -> Vec<&str> {
        match self {
            Names::One(n) => vec![n.as_str()],
            Names::Any(ns) => ns.iter().map(String::as_str).collect(),
        }
    }
}

/// Dify's comparison operators (with ASCII spellings of ≠, ≥ and ≤ accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Op {
    #[serde(rename = "contains")]
    Contains,
    #[serde(rename = "not contains")]
    NotContains,
    #[serde(rename = "start with")]
    StartWith,
    #[serde(rename = "end with")]
    EndWith,
    #[serde(rename = "is")]
    Is,
    #[serde(rename = "is not")]
    IsNot,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not in")]
    NotIn,
    #[serde(rename = "empty")]
    Empty,
    #[serde(rename = "not empty")]
    NotEmpty,
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "≠", alias = "!=")]
    Ne,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "≥", alias = ">=")]
    Ge,
    #[serde(rename = "≤", alias = "<=")]
    Le,
    #[serde(rename = "before")]
    Before,
    #[serde(rename = "after")]
    After,
}

impl Op {
    /// Negations hold for a document without the field.
    fn negative(self) -> bool {
        matches!(self, Op::NotContains | Op::IsNot | Op::NotIn | Op::Ne)
    }
}

impl Filter {
    /// Checks the filter before it is used: each condition has the value its operator needs,
    /// of the right type, and names fields that `known` (the fields the searched documents
    /// have) contains. The error names the field.
    pub fn check(&self, known: &dyn Fn(&str) -> bool) -> Result<()> {
        if self.conditions.is_empty() {
            return Err(Error::bad_request("filters need at least one condition"));
        }
        for c in &self.conditions {
            let names = c.name.list();
            if names.is_empty() {
                return Err(Error::bad_request("a filter condition names no field"));
            }
            let field = names.join(", ");
            if let Some(unknown) = names.iter().find(|n| !known(n)) {
                return Err(Error::bad_request(format!(
                    "unknown metadata field {unknown:?}: no document of these knowledge bases has it"
                )));
            }
            let bad = |what: &str| {
                Err(Error::bad_request(format!(
                    "filter on {field:?}: {:?} needs {what}",
                    op_name(c.comparison_operator)
                )))
            };
            let v = c.value.as_ref().filter(|v| !v.is_null());
            match c.comparison_operator {
                Op::Empty | Op::NotEmpty => {}
                Op::Contains
                | Op::NotContains
                | Op::StartWith
                | Op::EndWith
                | Op::Is
                | Op::IsNot => {
                    if !v.is_some_and(|v| v.is_string() || v.is_number()) {
                        return bad("a string value");
                    }
                }
                Op::In | Op::NotIn => {
                    if !v.is_some_and(|v| {
                        v.is_string()
                            || v.as_array()
                                .is_some_and(|a| a.iter().all(|i| i.is_string() || i.is_number()))
                    }) {
                        return bad("a list of values (or a comma-separated string)");
                    }
                }
                Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le => {
                    if v.is_none_or(|v| number(v).is_none()) {
                        return bad("a number");
                    }
                }
                Op::Before | Op::After => {
                    if v.is_none_or(|v| instant(v).is_none()) {
                        return bad("a date (YYYY-MM-DD, RFC 3339 or a Unix timestamp)");
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a document with `meta` passes. Call [`Filter::check`] first.
    pub fn matches(&self, meta: &Metadata) -> bool {
        let one = |c: &Condition| {
            let names = c.name.list();
            if c.comparison_operator.negative() {
                names.iter().all(|n| holds(c, meta.get(*n)))
            } else {
                names.iter().any(|n| holds(c, meta.get(*n)))
            }
        };
        match self.logical_operator {
            Logic::And => self.conditions.iter().all(one),
            Logic::Or => self.conditions.iter().any(one),
        }
    }
}

fn op_name(op: Op) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// The strings a field holds: its string (or number, as text), or its list's items.
fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items.iter().flat_map(texts).collect(),
        _ => Vec::new(),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A date or time as seconds since the epoch: `YYYY-MM-DD` (midnight UTC), RFC 3339, or a
/// number of seconds.
fn instant(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = s.parse::<jiff::Timestamp>() {
                return Some(t.as_millisecond() as f64 / 1000.0);
            }
            let d = s.parse::<jiff::civil::Date>().ok()?;
            let t = d.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
            Some(t.as_millisecond() as f64 / 1000.0)
        }
        _ => None,
    }
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Whether the condition holds for one field's value (`None`: the document lacks it).
fn holds(c: &Condition, field: Option<&Value>) -> bool {
    let op = c.comparison_operator;
    match op {
        Op::Empty => return is_empty(field),
        Op::NotEmpty => return !is_empty(field),
        _ => {}
    }
    let Some(field) = field.filter(|f| !f.is_null()) else {
        return op.negative();
    };
    let value = c.value.clone().unwrap_or(Value::Null);
    let want = texts(&value).into_iter().next().unwrap_or_default();
    let have = texts(field);
    let lower = |s: &str| s.to_lowercase();
    match op {
        Op::Contains => have.iter().any(|h| lower(h).contains(&lower(&want))),
        Op::NotContains => !have.iter().any(|h| lower(h).contains(&lower(&want))),
        Op::StartWith => have.iter().any(|h| lower(h).starts_with(&lower(&want))),
        Op::EndWith => have.iter().any(|h| lower(h).ends_with(&lower(&want))),
        Op::Is => have.contains(&want),
        Op::IsNot => !have.contains(&want),
        Op::In | Op::NotIn => {
            let set: Vec<String> = match &value {
                Value::String(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
                other => texts(other),
            };
            let any = have.iter().any(|h| set.contains(h));
            (op == Op::In) == any
        }
        Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le => {
            let (Some(h), Some(w)) = (number(field), number(&value)) else {
                return op.negative();
            };
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Gt => h > w,
                Op::Lt => h < w,
                Op::Ge => h >= w,
                _ => h <= w,
            }
        }
        Op::Before | Op::After => {
            let (Some(h), Some(w)) = (instant(field), instant(&value)) else {
                return false;
            };
            if op == Op::Before {
                h < w
            } else {
                h > w
            }
        }
        Op::Empty | Op::NotEmpty => unreachable!("handled above"),
    }
}

/// Reads YAML-style front matter at the top of a Markdown file (`---` lines around
/// `key: value` lines; values may be quoted, numbers, or `[a, b]` lists). What cannot be read
/// is skipped. Returns the metadata found (empty without front matter).
pub fn front_matter(text: &str) -> Metadata {
    let mut meta = Metadata::new();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return meta;
    }
    let mut body = Vec::new();
    let mut closed = false;
    for line in lines {
        if matches!(line.trim_end(), "---" | "...") {
            closed = true;
            break;
        }
        body.push(line);
    }
    if !closed {
        return meta;
    }
    let unquote = |s: &str| {
        let s = s.trim();
        s.strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
            .unwrap_or(s)
            .to_string()
    };
    for line in body {
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        let Some((key, raw)) = line.split_once(':') else {
            continue;
        };
        let (key, raw) = (key.trim(), raw.trim());
        if raw.is_empty() || meta.len() >= MAX_FIELDS {
            continue;
        }
        let value = if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Value::Array(
                inner
                    .split(',')
                    .map(unquote)
                    .filter(|s| !s.is_empty())
                    .map(Value::String)
                    .collect(),
            )
        } else if let Ok(n) = raw.parse::<i64>() {
            Value::from(n)
        } else if let Some(n) = raw.parse::<f64>().ok().filter(|n| n.is_finite()) {
            Value::from(n)
        } else {
            Value::String(unquote(raw))
        };
        let mut one = Map::new();
        one.insert(key.to_string(), value);
        if validate(&Value::Object(one.clone())).is_ok() {
            meta.extend(one);
        }
    }
    meta
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Metadata {
        validate(&v).unwrap()
    }

    fn filter(v: Value) -> Filter {
        let f: Filter = serde_json::from_value(v).unwrap();
        f.check(&|_| true).unwrap();
        f
    }

    fn cond(name: &str, op: &str, value: Value) -> Filter {
        filter(json!({"conditions": [{"name": name, "comparison_operator": op, "value": value}]}))
    }

    #[test]
    fn metadata_is_checked_and_the_field_named() {
        assert!(validate(&json!({"author": "Li", "year": 2024, "tags": ["a", "b"]})).is_ok());
        let e = validate(&json!({"author": {"first": "Li"}}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"author\""), "{e}");
        let e = validate(&json!({"tags": [1, 2]})).unwrap_err().to_string();
        assert!(e.contains("\"tags\""), "{e}");
        assert!(validate(&json!({"bad name": 1})).is_err());
        assert!(validate(&json!(["not", "an object"])).is_err());
        assert!(parse("{\"a\": 1}").is_ok());
        assert!(parse("{nope").is_err());
    }

    #[test]
    fn every_operator() {
        let doc = meta(json!({
            "author": "Li Wei", "year": 2021, "tags": ["finance", "q3"],
            "published": "2024-03-15", "empty": "", "none": []
        }));
        let yes = |op: &str, name: &str, value: Value| cond(name, op, value).matches(&doc);
        assert!(yes("contains", "author", json!("wei")));
        assert!(!yes("contains", "author", json!("zhang")));
        assert!(yes("contains", "tags", json!("fin")));
        assert!(yes("not contains", "author", json!("zhang")));
        assert!(yes("start with", "author", json!("li")));
        assert!(yes("end with", "author", json!("Wei")));
        assert!(yes("is", "author", json!("Li Wei")));
        assert!(!yes("is", "author", json!("li wei")), "is is exact");
        assert!(yes("is", "tags", json!("q3")));
        assert!(yes("is not", "author", json!("Zhang")));
        assert!(yes("in", "author", json!(["Zhang", "Li Wei"])));
        assert!(yes("in", "author", json!("Zhang, Li Wei")));
        assert!(yes("not in", "tags", json!(["hr"])));
        assert!(!yes("not in", "tags", json!(["q3"])));
        assert!(
            filter(json!({"conditions": [{"name": "empty", "comparison_operator": "empty"}]}))
                .matches(&doc)
        );
        assert!(
            filter(json!({"conditions": [{"name": "none", "comparison_operator": "empty"}]}))
                .matches(&doc)
        );
        assert!(filter(
            json!({"conditions": [{"name": "missing", "comparison_operator": "empty"}]})
        )
        .matches(&doc));
        assert!(filter(
            json!({"conditions": [{"name": "author", "comparison_operator": "not empty"}]})
        )
        .matches(&doc));
        assert!(yes("=", "year", json!(2021)));
        assert!(yes("≠", "year", json!(2020)));
        assert!(yes("!=", "year", json!("2020")));
        assert!(yes(">", "year", json!(2020)));
        assert!(!yes("<", "year", json!(2021)));
        assert!(yes("≥", "year", json!(2021)));
        assert!(yes("<=", "year", json!(2021.5)));
        assert!(yes("before", "published", json!("2024-04-01")));
        assert!(yes("after", "published", json!("2024-03-14T23:00:00Z")));
        assert!(!yes("after", "published", json!("2024-03-15T00:00:01Z")));
        // A document without the field: negations hold, the rest do not.
        assert!(yes("is not", "missing", json!("x")));
        assert!(!yes("is", "missing", json!("x")));
        assert!(!yes(">", "missing", json!(1)));
        assert!(!yes("before", "missing", json!("2024-01-01")));
    }

    #[test]
    fn and_or_and_several_names() {
        let doc = meta(json!({"author": "Li", "year": 2021}));
        let both = |logic: &str| {
            filter(json!({"logical_operator": logic, "conditions": [
                {"name": "author", "comparison_operator": "is", "value": "Li"},
                {"name": "year", "comparison_operator": ">", "value": 2022}
            ]}))
            .matches(&doc)
        };
        assert!(!both("and"));
        assert!(both("or"));
        let any = filter(json!({"conditions": [
            {"name": ["editor", "author"], "comparison_operator": "is", "value": "Li"}]}));
        assert!(any.matches(&doc));
    }

    #[test]
    fn bad_filters_are_refused_with_the_field_named() {
        let f = |v: Value| serde_json::from_value::<Filter>(v);
        assert!(f(
            json!({"conditions": [{"name": "a", "comparison_operator": "like", "value": "x"}]})
        )
        .is_err());
        assert!(
            f(json!({"logic": "and", "conditions": []})).is_err(),
            "unknown key"
        );
        let check = |v: Value| {
            f(v).unwrap()
                .check(&|n| n != "nope")
                .unwrap_err()
                .to_string()
        };
        let e = check(
            json!({"conditions": [{"name": "year", "comparison_operator": ">", "value": "soon"}]}),
        );
        assert!(e.contains("\"year\"") && e.contains("number"), "{e}");
        let e = check(
            json!({"conditions": [{"name": "d", "comparison_operator": "before", "value": "tuesday"}]}),
        );
        assert!(e.contains("\"d\"") && e.contains("date"), "{e}");
        let e = check(json!({"conditions": [{"name": "nope", "comparison_operator": "empty"}]}));
        assert!(e.contains("unknown metadata field \"nope\""), "{e}");
        let e = check(json!({"conditions": [{"name": "a", "comparison_operator": "is"}]}));
        assert!(e.contains("\"a\""), "{e}");
        assert!(check(json!({"conditions": []})).contains("at least one"));
    }

    #[test]
    fn front_matter_is_read() {
        let m = front_matter(
            "---\ntitle: \"Budget 2024\"\nyear: 2024\nscore: 4.5\ntags: [finance, 'q3']\nnested:\n  a: 1\n---\n# Budget\n",
        );
        assert_eq!(m["title"], "Budget 2024");
        assert_eq!(m["year"], 2024);
        assert_eq!(m["score"], 4.5);
        assert_eq!(m["tags"], json!(["finance", "q3"]));
        assert!(!m.contains_key("nested"));
        assert!(front_matter("# no front matter\n---\na: 1\n---").is_empty());
        assert!(front_matter("---\na: 1\nnever closed").is_empty());
    }
}

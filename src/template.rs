//! `--format` for `ctr inspect`: the part of Go's text/template that docker
//! users write, over the JSON that inspect prints. Text is copied; an action
//! `{{...}}` is a pipeline of commands separated by `|`, each a value or a
//! function of values:
//!
//! - `.` (the object), `.State.Status` (a field, then a field of it),
//!   `"text"` and numbers;
//! - `json X` (X as JSON), `index X K...` (the member K of a map, the K-th
//!   element of a list), `upper X`, `lower X`, `len X`.
//!
//! `{{json .Config}}`, `{{.State.Pid}}` and
//! `{{(index .NetworkSettings.Ports "80/tcp")}}` work as with docker; `if`,
//! `range` and variables do not, and say so.

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// `template` applied to `data`.
pub fn render(template: &str, data: &Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .with_context(|| format!("template {template:?}: an action has no closing }}}}"))?;
        let action = after[..close].trim_matches(|c: char| c == '-' || c.is_whitespace());
        let value = pipeline(action, data)
            .with_context(|| format!("template {template:?}: in {{{{{action}}}}}"))?;
        out.push_str(&print(&value));
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How Go's template prints a value: strings bare, maps and lists as Go
/// writes them (`map[k:v]`, `[a b]`), null as `<no value>`.
fn print(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(print).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", print(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

fn pipeline(text: &str, data: &Value) -> Result<Value> {
    let mut value: Option<Value> = None;
    for command in split_pipes(text) {
        let mut words = words(command.trim())?;
        // A pipe hands its value to the next command as the last argument.
        if let Some(v) = value.take() {
            words.push(Word::Value(v));
        }
        value = Some(call(&words, data)?);
    }
    value.context("an empty action")
}

#[derive(Clone, Debug)]
enum Word {
    Name(String),
    Value(Value),
}

/// `|` outside quotes and parentheses.
fn split_pipes(text: &str) -> Vec<&str> {
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            '|' if !quoted && depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The words of a command: names, fields (`.A.B`) and literals are kept as
/// text (fields are looked up by `call`), a parenthesised pipeline as its value.
fn words(text: &str) -> Result<Vec<Word>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == '"' && chars[j - 1] != '\\')
                .context("a string has no closing quote")?;
            let literal: String = chars[i..=end].iter().collect();
            out.push(Word::Value(
                serde_json::from_str(&literal).context("a string")?,
            ));
            i = end + 1;
        } else if c == '(' {
            let mut depth = 0;
            let mut end = None;
            for (j, &d) in chars.iter().enumerate().skip(i) {
                match d {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(j);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let end = end.context("a ( has no closing )")?;
            // Kept as text, with the fields that follow it (`(...).HostPort`),
            // and evaluated against the data by `value`.
            let stop = (end + 1..chars.len())
                .find(|&j| chars[j].is_whitespace())
                .unwrap_or(chars.len());
            out.push(Word::Name(chars[i..stop].iter().collect()));
            i = stop;
        } else {
            let end = (i..chars.len())
                .find(|&j| chars[j].is_whitespace())
                .unwrap_or(chars.len());
            out.push(Word::Name(chars[i..end].iter().collect()));
            i = end;
        }
    }
    Ok(out)
}

/// A command: a function and its arguments, or one value.
fn call(words: &[Word], data: &Value) -> Result<Value> {
    let Some((first, args)) = words.split_first() else {
        bail!("an empty command");
    };
    let function = match first {
        Word::Name(name) if !name.starts_with(['.', '(', '-']) && !is_number(name) => name.as_str(),
        _ if args.is_empty() => return value(first, data),
        _ => bail!("a value cannot be called with arguments"),
    };
    let args = args
        .iter()
        .map(|w| value(w, data))
        .collect::<Result<Vec<_>>>()?;
    match (function, &args[..]) {
        ("json", [v]) => Ok(Value::String(serde_json::to_string(v)?)),
        ("upper", [Value::String(s)]) => Ok(Value::String(s.to_uppercase())),
        ("lower", [Value::String(s)]) => Ok(Value::String(s.to_lowercase())),
        ("len", [Value::Array(a)]) => Ok(a.len().into()),
        ("len", [Value::Object(m)]) => Ok(m.len().into()),
        ("len", [Value::String(s)]) => Ok(s.len().into()),
        ("index", [v, keys @ ..]) if !keys.is_empty() => {
            let mut v = v.clone();
            for key in keys {
                v = match (&v, key) {
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .with_context(|| format!("index {n} is out of range"))?,
                    _ => bail!("index: cannot index {} with {key}", kind(&v)),
                };
            }
            Ok(v)
        }
        ("json" | "upper" | "lower" | "len" | "index", _) => {
            bail!("{function}: wrong arguments ({} given)", args.len())
        }
        ("if" | "range" | "with" | "end" | "else" | "printf" | "println", _) => bail!(
            "{function} is not supported: ctr's --format takes fields (.State.Status), \
             json, index, len, upper and lower"
        ),
        _ => bail!("function {function:?} not defined"),
    }
}

fn value(word: &Word, data: &Value) -> Result<Value> {
    match word {
        Word::Value(v) => Ok(v.clone()),
        Word::Name(name) if name.starts_with('(') => {
            let close = name.rfind(')').context("a ( has no closing )")?;
            let inner = pipeline(&name[1..close], data)?;
            match &name[close + 1..] {
                "" => Ok(inner),
                fields => field(&inner, fields),
            }
        }
        Word::Name(name) if name == "." => Ok(data.clone()),
        Word::Name(name) if name.starts_with('.') => field(data, name),
        Word::Name(name) if is_number(name) => Ok(serde_json::from_str(name)?),
        Word::Name(name) => bail!("function {name:?} needs arguments"),
    }
}

fn is_number(text: &str) -> bool {
    text.parse::<f64>().is_ok()
}

/// `.A.B.C` of `data`.
fn field(data: &Value, path: &str) -> Result<Value> {
    let mut v = data;
    for name in path.trim_start_matches('.').split('.') {
        v = match v {
            Value::Object(map) => map
                .get(name)
                .with_context(|| format!("can't evaluate field {name}: there is no such field"))?,
            other => bail!("can't evaluate field {name} in {}", kind(other)),
        };
    }
    Ok(v.clone())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "Name": "/r",
            "State": {"Status": "running", "Pid": 42, "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {}},
            "NetworkSettings": {"Ports": {"6379/tcp": [{"HostIp": "0.0.0.0", "HostPort": "6379"}]}}
        })
    }

    #[test]
    fn fields_and_text() {
        let d = data();
        assert_eq!(render("{{.State.Status}}", &d).unwrap(), "running");
        assert_eq!(
            render("pid={{ .State.Pid }} up={{.State.Running}}", &d).unwrap(),
            "pid=42 up=true"
        );
        assert_eq!(render("{{.Config.Env}}", &d).unwrap(), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &d).unwrap(), "map[]");
        assert_eq!(render("no action", &d).unwrap(), "no action");
    }

    #[test]
    fn functions_and_pipes() {
        let d = data();
        assert_eq!(
            render("{{json .State}}", &d).unwrap(),
            r#"{"Pid":42,"Running":true,"Status":"running"}"#
        );
        assert_eq!(
            render("{{.Config.Env | json}}", &d).unwrap(),
            r#"["A=1","B=2"]"#
        );
        assert_eq!(render("{{index .Config.Env 1}}", &d).unwrap(), "B=2");
        assert_eq!(
            render(
                r#"{{(index (index .NetworkSettings.Ports "6379/tcp") 0).HostPort}}"#,
                &d
            )
            .unwrap(),
            "6379"
        );
        assert_eq!(
            render(
                r#"{{index .NetworkSettings.Ports "6379/tcp" 0 "HostPort"}}"#,
                &d
            )
            .unwrap(),
            "6379"
        );
        assert_eq!(
            render("{{len .Config.Env}} {{upper .State.Status}}", &d).unwrap(),
            "2 RUNNING"
        );
        assert_eq!(
            render("{{.State.Status | upper | lower}}", &d).unwrap(),
            "running"
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let d = data();
        let err = |t: &str| format!("{:#}", render(t, &d).unwrap_err());
        assert!(
            err("{{.State.Nope}}").contains("can't evaluate field Nope"),
            "{}",
            err("{{.State.Nope}}")
        );
        assert!(err("{{.State.Status.X}}").contains("in a string"));
        assert!(err("{{.State").contains("no closing }}"));
        assert!(err("{{if .State.Running}}x{{end}}").contains("if is not supported"));
        assert!(err("{{nope .State}}").contains("function \"nope\" not defined"));
    }
}

//! Typed commands to argv and `with:` maps to typed options, both driven by serde so that
//! a flag is spelled only where its field is declared.
//!
//! The rule: a serialized field `some_name` is the long flag `--some-name`; `true` is the
//! bare flag, `false`, `None` and an empty list are left out, a list repeats the flag, any
//! other value follows its flag (as `--flag=value` when it starts with `-`, which clap
//! would otherwise take for a flag). A subcommand is the serde name of its variant.

use clap::{Args, FromArgMatches};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A `with:` map that does not make the options it is meant for.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WithError(String);

impl WithError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        WithError(message.into())
    }
}

impl From<clap::Error> for WithError {
    fn from(e: clap::Error) -> Self {
        // clap's message without its usage and help lines, on one line.
        let text = e.to_string();
        let message: Vec<&str> = text
            .lines()
            .map(str::trim)
            .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
            .collect();
        WithError(message.join(" ").trim_start_matches("error: ").to_string())
    }
}

/// The arguments of a command (subcommand name first, no program name).
pub fn to_args<T: Serialize>(value: &T) -> Vec<String> {
    let value = serde_json::to_value(value).expect("a command serializes to JSON");
    let mut out = Vec::new();
    match value {
        // A subcommand without options.
        Value::String(verb) => out.push(verb),
        Value::Object(map) => {
            // A subcommand is the only key of its object; a plain struct is options.
            match map.iter().next() {
                Some((verb, Value::Object(fields))) if map.len() == 1 => {
                    out.push(verb.clone());
                    flags(fields, &mut out);
                }
                _ => flags(&map, &mut out),
            }
        }
        _ => {}
    }
    out
}

fn flags(fields: &Map<String, Value>, out: &mut Vec<String>) {
    for (key, value) in fields {
        let flag = format!("--{}", key.replace('_', "-"));
        match value {
            Value::Null | Value::Bool(false) => {}
            Value::Bool(true) => out.push(flag),
            Value::Array(items) => {
                for item in items {
                    push_value(out, &flag, item);
                }
            }
            Value::Object(inner) => flags(inner, out),
            other => push_value(out, &flag, other),
        }
    }
}

fn push_value(out: &mut Vec<String>, flag: &str, value: &Value) {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.starts_with('-') {
        out.push(format!("{flag}={text}"));
    } else {
        out.push(flag.to_string());
        out.push(text);
    }
}

/// Options from a lab file's `with:` map (keys are field names), parsed by the same clap
/// definition the agent uses: defaults, ranges and value types apply as on its command line.
pub fn from_with<T: Args + FromArgMatches>(with: &BTreeMap<String, Value>) -> Result<T, WithError> {
    let map: Map<String, Value> = with.clone().into_iter().collect();
    let mut args = Vec::new();
    flags(&map, &mut args);
    let cmd = T::augment_args(clap::Command::new(crate::PROGRAM).no_binary_name(true));
    let mut matches = cmd.try_get_matches_from(args)?;
    Ok(T::from_arg_matches_mut(&mut matches)?)
}

/// Options all of whose fields have defaults, at their defaults.
pub fn defaults<T: Args + FromArgMatches>() -> T {
    from_with(&BTreeMap::new()).expect("these options have a default for every field")
}

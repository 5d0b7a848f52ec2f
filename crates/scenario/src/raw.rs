//! Stage one: the shape of a lab file, parsed strictly (every unknown key is an error) and
//! under limits, so that no alias bomb or deep nesting can exhaust memory.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{Problem, ScenarioError, did_you_mean};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawLab {
    pub api_version: Spanned<String>,
    pub kind: Spanned<String>,
    pub metadata: RawMetadata,
    #[serde(default)]
    #[allow(dead_code)] // read and substituted by `params` before this parse
    pub params: BTreeMap<String, ParamDecl>,
    #[serde(default)]
    pub networks: BTreeMap<String, Spanned<RawNetwork>>,
    pub nodes: BTreeMap<String, Spanned<RawNode>>,
    #[serde(default)]
    pub steps: Vec<RawStep>,
    #[serde(default)]
    pub checks: Vec<RawCheck>,
    pub exercise: Option<Spanned<RawExercise>>,
    pub wireshark: Option<Spanned<RawWireshark>>,
}

/// What a student looks for in Wireshark (`lab explain`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWireshark {
    pub filters: Vec<RawFilter>,
    #[serde(default)]
    pub expand: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilter {
    pub filter: Spanned<String>,
    pub shows: Spanned<String>,
    pub preference: Option<Spanned<String>>,
}

/// What makes a lab an exercise: the parts a student edits, and the instructor's secrets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExercise {
    pub brief: String,
    pub edit: Vec<Spanned<RawEdit>>,
    pub solution: Option<Spanned<BTreeMap<String, BTreeMap<String, serde_json::Value>>>>,
    pub seed: Option<Spanned<String>>,
    pub student: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEdit {
    pub node: Spanned<String>,
    pub fields: Vec<Spanned<String>>,
    pub versions: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetadata {
    pub name: Spanned<String>,
    pub title: Spanned<String>,
    pub threat: Spanned<String>,
    pub variant: Spanned<String>,
    pub pair: Option<Spanned<String>>,
    #[serde(default)]
    pub mitre: Vec<Spanned<String>>,
    pub description: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    #[serde(default = "yes")]
    pub internal: Spanned<bool>,
}

fn yes() -> Spanned<bool> {
    Spanned::new(
        true,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub kind: Spanned<String>,
    pub version: Option<Spanned<String>>,
    pub aet: Option<Spanned<String>>,
    #[serde(default)]
    pub networks: Vec<Spanned<String>>,
    /// Orthanc configuration keys merged over the lab's defaults.
    pub config: Option<BTreeMap<String, serde_json::Value>>,
    pub tap: Option<Spanned<String>>,
    /// ids: the rules that are on, each with its threshold.
    pub rules: Option<Spanned<BTreeMap<String, u64>>>,
    pub tls: Option<Spanned<RawTls>>,
    pub daemon: Option<RawDaemon>,
    pub lua: Option<String>,
    pub verbose: Option<bool>,
    /// modality: which implementation speaks DICOM (lab-agent or pynetdicom).
    #[serde(rename = "impl")]
    pub implementation: Option<Spanned<String>>,
    /// modality: sign each stored instance (DICOM digital signature).
    pub sign: Option<Spanned<bool>>,
    /// attacker: which image it runs (agent or toolbox).
    pub image: Option<Spanned<String>>,
    /// Resource limits over the engine's defaults for the node's kind.
    pub limits: Option<Spanned<crate::limit_rules::RawLimits>>,
}

/// What an attacker runs as its main process for the whole lab (the on-path proxy).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub action: Spanned<String>,
    #[serde(default)]
    pub with: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub require_client_certificate: Option<bool>,
    pub client_certificate: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub id: Option<Spanned<String>>,
    pub node: Spanned<String>,
    pub action: Spanned<String>,
    pub to: Option<Spanned<String>>,
    pub via: Option<Spanned<String>>,
    pub study: Option<RawStudy>,
    pub with: Option<Spanned<BTreeMap<String, serde_json::Value>>>,
    pub expect: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStudy {
    pub modality: Spanned<String>,
    #[serde(default = "one")]
    pub instances: u32,
    pub syntax: Option<Spanned<String>>,
    pub patient: Option<Spanned<String>>,
    pub patient_id: Option<Spanned<String>>,
    pub seed: Option<u64>,
    pub rows: Option<u16>,
    pub cols: Option<u16>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    pub node: Option<Spanned<String>>,
    pub equals: Option<u64>,
    pub expect: Option<Spanned<RawExpect>>,
    pub mitre: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub step: Option<Spanned<String>>,
    pub rule: Option<Spanned<String>>,
    /// ids.alerts: only alerts whose source is this node.
    pub from: Option<Spanned<String>>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub path: Option<String>,
    pub contains: Option<String>,
    pub hidden: Option<bool>,
    pub points: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawExpect {
    One(String),
    Many(Vec<String>),
}

/// Parser options with the limits a lab file lives within.
pub(crate) fn options() -> Option<serde_saphyr::Options> {
    let mut o = serde_saphyr::Options::default();
    let mut b = serde_saphyr::Budget::default();
    b.max_aliases = 64;
    b.max_anchors = 64;
    b.max_depth = 32;
    b.max_nodes = 20_000;
    b.max_events = 100_000;
    b.max_documents = 1;
    b.max_total_scalar_bytes = crate::MAX_FILE_BYTES * 4;
    o.budget = Some(b);
    Some(o)
}

pub(crate) fn parse(file: &str, text: &str) -> Result<RawLab, ScenarioError> {
    let opts = options().expect("static options");
    serde_saphyr::from_str_with_options::<RawLab>(text, opts)
        .map_err(|e| ScenarioError::single(problem_from(file, &e)))
}

fn problem_from(file: &str, e: &serde_saphyr::Error) -> Problem {
    let message = e.without_snippet().to_string();
    // serde's own wording puts the location in the message too; keep the first line only.
    let message = strip_location(message.lines().next().unwrap_or("invalid YAML")).to_string();
    let mut p = match e.location() {
        Some(loc) => Problem::at(file, loc, message.clone()),
        None => Problem::new(file, message.clone()),
    };
    if let Some(hint) = unknown_key_hint(&message) {
        p = p.hint(hint);
    }
    p
}

/// Turns serde's "unknown field `x`, expected one of a, b" into a suggestion.
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest
        .split_once("expected ")
        .map(|(_, list)| list.trim_start_matches("one of "))
        .map(|list| list.split(", ").map(|s| s.trim_matches('`')).collect())
        .unwrap_or_default();
    match did_you_mean(word, expected.iter().copied()) {
        Some(s) => Some(format!("unknown key `{word}`, did you mean `{s}`?")),
        None if !expected.is_empty() => Some(format!(
            "the keys allowed here are: {}",
            expected.join(", ")
        )),
        None => None,
    }
}

/// serde-saphyr ends messages with " at line N, column M"; the Problem says that already.
fn strip_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    }
}

/// A `params:` entry of a lab file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParamDecl {
    pub default: Option<String>,
    #[allow(dead_code)] // read by `lab show`'s future listing of parameters
    pub description: Option<String>,
    /// How `lab pack` draws a value per student (see `exercise::Draw`).
    pub per_student: Option<Spanned<String>>,
}

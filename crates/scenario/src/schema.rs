//! The one description of the lab format's shape. From it come the JSON Schema (`lab
//! schema`, docs/scenario.schema.json, editor completion) and the structural lint that
//! reports every unknown key and misplaced value of a file at once, before the typed parse.
//! The serde types in `raw` must accept exactly this shape; a test checks the two agree on
//! every lab of the catalog and the broken corpus.

use serde_json::{Map, Value, json};

use crate::error::{Problem, did_you_mean};
use crate::model::{API_VERSION, CHECK_KINDS, ORTHANC_VERSIONS, THREATS};
use crate::tree::{YKind, YNode};

/// The shape of a value.
#[derive(Debug, Clone)]
pub enum Shape {
    Str {
        pattern: Option<&'static str>,
    },
    Int {
        min: u64,
        max: u64,
    },
    Bool,
    Enum(Vec<&'static str>),
    List(Box<Shape>),
    /// Keys chosen by the author (node names, network names), all values of one shape.
    Map {
        key_pattern: &'static str,
        values: Box<Shape>,
    },
    Object(Vec<Prop>),
    /// A single value or a list of single values.
    OneOrList(Box<Shape>),
    /// Anything (Orthanc configuration, passed through).
    Any,
}

/// One key of an object.
#[derive(Debug, Clone)]
pub struct Prop {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
    pub description: &'static str,
    pub default: Option<Value>,
}

const NAME: &str = "^[a-z][a-z0-9-]{0,39}$";
const MITRE: &str = "^M[0-9]{4}$";

pub(crate) fn p(name: &'static str, shape: Shape, description: &'static str) -> Prop {
    Prop {
        name,
        shape,
        required: false,
        description,
        default: None,
    }
}

pub(crate) fn req(name: &'static str, shape: Shape, description: &'static str) -> Prop {
    Prop {
        required: true,
        ..p(name, shape, description)
    }
}

fn dflt(mut prop: Prop, value: Value) -> Prop {
    prop.default = Some(value);
    prop
}

pub(crate) fn s() -> Shape {
    Shape::Str { pattern: None }
}

/// The lab file, top to bottom.
pub fn lab() -> Shape {
    Shape::Object(vec![
        req(
            "apiVersion",
            Shape::Enum(vec![API_VERSION]),
            "Version of the format; always `dicom-range/v1`.",
        ),
        req("kind", Shape::Enum(vec!["Lab"]), "Always `Lab`."),
        req(
            "metadata",
            metadata(),
            "What the lab is about: name, threat, variant, MITRE mitigations.",
        ),
        p(
            "params",
            Shape::Map {
                key_pattern: "^[a-z][a-z0-9_]{0,39}$",
                values: Box::new(param()),
            },
            "Values an instructor or student may set (`-p key=value`), used as `${params.key}`.",
        ),
        p(
            "networks",
            Shape::Map {
                key_pattern: "^[a-z][a-z0-9-]{0,19}$",
                values: Box::new(network()),
            },
            "The lab's networks; every one is internal (reaches nothing outside the lab).",
        ),
        req(
            "nodes",
            Shape::Map {
                key_pattern: NAME,
                values: Box::new(node()),
            },
            "The machines of the lab, by name.",
        ),
        p(
            "steps",
            Shape::List(Box::new(step())),
            "What happens, in order, once every node is ready.",
        ),
        req(
            "checks",
            Shape::List(Box::new(check())),
            "How the run is graded; the lab passes when every check meets its expectation.",
        ),
        p(
            "exercise",
            exercise(),
            "Makes the lab an exercise (variant `exercise`): what the student edits, the reference solution, the seed of per-student values.",
        ),
        p(
            "wireshark",
            crate::wireshark::shape(),
            "For students (`lab explain`): Wireshark display filters that show what the lab is about, and which packets to expand. Without it, `lab explain` derives hints from the lab's nodes.",
        ),
    ])
}

fn exercise() -> Shape {
    Shape::Object(vec![
        req(
            "brief",
            s(),
            "For the student: the situation and the goal (not the solution).",
        ),
        req(
            "edit",
            Shape::List(Box::new(Shape::Object(vec![
                req("node", s(), "A node the student configures."),
                req(
                    "fields",
                    Shape::List(Box::new(Shape::Enum(
                        crate::exercise::EDITABLE_FIELDS.to_vec(),
                    ))),
                    "The node's fields the student may change; grading takes only these from a submission.",
                ),
                p(
                    "versions",
                    Shape::List(Box::new(Shape::Enum(ORTHANC_VERSIONS.to_vec()))),
                    "When `version` is editable: the Orthanc versions a submission may choose.",
                ),
            ]))),
            "What the student may change; everything else comes from the instructor's file when grading.",
        ),
        p(
            "solution",
            Shape::Map {
                key_pattern: NAME,
                values: Box::new(Shape::Any),
            },
            "Instructor only (removed by `lab pack`): the reference solution, node -> field -> value.",
        ),
        p(
            "seed",
            s(),
            "Instructor only (removed by `lab pack`): the secret per-student values are drawn from.",
        ),
        p(
            "student",
            Shape::Str {
                pattern: Some(crate::exercise::STUDENT_ID),
            },
            "Written by `lab pack`: whose file this is.",
        ),
    ])
}

fn metadata() -> Shape {
    Shape::Object(vec![
        req(
            "name",
            Shape::Str {
                pattern: Some(NAME),
            },
            "The lab's name, as given to `lab run`; the file is <name>.yaml.",
        ),
        req("title", s(), "One line saying what the lab shows."),
        req(
            "threat",
            Shape::Enum(THREATS.to_vec()),
            "The paper's threat this lab is about.",
        ),
        req(
            "variant",
            Shape::Enum(vec!["vulnerable", "hardened", "exercise"]),
            "vulnerable: the attack or weakness shows; hardened: the mitigation stops it; exercise: a student must make it pass (see `exercise`).",
        ),
        p(
            "pair",
            Shape::Str {
                pattern: Some(NAME),
            },
            "The lab of the other variant for the same threat.",
        ),
        p(
            "mitre",
            Shape::List(Box::new(Shape::Str {
                pattern: Some(MITRE),
            })),
            "MITRE ATT&CK mitigation ids (M1041, M0930, ...).",
        ),
        p(
            "description",
            s(),
            "For students: what happens, what to look for in Wireshark, how the mitigation works.",
        ),
    ])
}

fn param() -> Shape {
    Shape::Object(vec![
        p(
            "default",
            s(),
            "Value used when the parameter is not set; without one, setting it is required.",
        ),
        p("description", s(), "What the parameter means."),
        p(
            "per_student",
            Shape::Enum(crate::exercise::DRAWS.to_vec()),
            "`lab pack` draws this parameter per student from the exercise's seed.",
        ),
    ])
}

fn network() -> Shape {
    Shape::Object(vec![dflt(
        p(
            "internal",
            Shape::Bool,
            "Must be true: lab networks reach nothing outside the lab.",
        ),
        json!(true),
    )])
}

fn node() -> Shape {
    Shape::Object(vec![
        req(
            "kind",
            Shape::Enum(vec!["orthanc", "modality", "attacker", "sniffer", "ids"]),
            "orthanc: the PACS; modality: lab-agent sending DICOM; attacker: lab-agent with attack tools; sniffer: captures a network to pcapng; ids: raises alerts from a network's traffic.",
        ),
        dflt(
            p(
                "version",
                Shape::Enum(ORTHANC_VERSIONS.to_vec()),
                "Orthanc version (orthanc nodes).",
            ),
            json!(ORTHANC_VERSIONS[0]),
        ),
        p(
            "aet",
            Shape::Str {
                pattern: Some("^[^\\\\]{1,16}$"),
            },
            "DICOM AE title (orthanc: ORTHANC, modality: MODALITY by default).",
        ),
        p(
            "networks",
            Shape::List(Box::new(s())),
            "Networks the node joins (orthanc and modality nodes).",
        ),
        p(
            "config",
            Shape::Any,
            "Orthanc configuration keys merged over the lab defaults (orthanc nodes).",
        ),
        p(
            "tap",
            s(),
            "The network a sniffer captures (sniffer nodes).",
        ),
        p(
            "rules",
            ids_rules(),
            "ids: the rules that are on, each with the count within the window (10 s) that fires it; without `rules`, every rule at its default.",
        ),
        p(
            "tls",
            tls(),
            "DICOM TLS with certificates from the run's own CA (orthanc and modality nodes).",
        ),
        p(
            "daemon",
            daemon(),
            "What an attacker runs for the whole lab (attacker nodes).",
        ),
        p(
            "verbose",
            Shape::Bool,
            "orthanc: log every association and store (--verbose); default true.",
        ),
        p(
            "lua",
            s(),
            "A Lua script Orthanc runs, e.g. an OnStoredInstance audit hook (orthanc nodes).",
        ),
        dflt(
            p(
                "impl",
                Shape::Enum(crate::ModalityImpl::NAMES.to_vec()),
                "modality: what speaks DICOM: lab-agent, or the paper's pynetdicom script (echo and store, no TLS).",
            ),
            json!("lab-agent"),
        ),
        p(
            "sign",
            Shape::Bool,
            "modality: sign each stored instance with a DICOM digital signature (PS3.15 Annex C, DCMTK's dcmsign) under a certificate from the run's CA; runs the modality in the toolbox image.",
        ),
        dflt(
            p(
                "image",
                Shape::Enum(crate::AttackerImage::NAMES.to_vec()),
                "attacker: agent (lab-agent), or toolbox (lab-agent plus nmap, tcpdump, tshark, dcmtk; needed by dicom-ping and dicom-brute).",
            ),
            json!("agent"),
        ),
        p(
            "limits",
            limits(),
            "Resource limits over the defaults for the node's kind (docs/scenarios.md, Limits): memory, pids, cpu_shares, log_size; capture for a sniffer or an attacker.",
        ),
    ])
}

fn ids_rules() -> Shape {
    Shape::Object(
        protocol::IdsRule::ALL
            .iter()
            .map(|r| {
                dflt(
                    p(
                        r.name(),
                        Shape::Int {
                            min: 1,
                            max: protocol::IdsRule::MAX_THRESHOLD,
                        },
                        r.describe(),
                    ),
                    json!(r.default_threshold()),
                )
            })
            .collect(),
    )
}

fn limits() -> Shape {
    use crate::limit_rules::{CPU_SHARES_RANGE, PIDS_RANGE, SIZE_PATTERN};
    let size = || Shape::Str {
        pattern: Some(SIZE_PATTERN),
    };
    Shape::Object(vec![
        p(
            "memory",
            size(),
            "Memory, e.g. 512m or 2g (32m to 64g; no swap on top). A PACS's stored files count against it.",
        ),
        p(
            "pids",
            Shape::Int {
                min: PIDS_RANGE.0,
                max: PIDS_RANGE.1,
            },
            "The most processes and threads at once (16 to 65536).",
        ),
        p(
            "cpu_shares",
            Shape::Int {
                min: CPU_SHARES_RANGE.0,
                max: CPU_SHARES_RANGE.1,
            },
            "CPU weight against other containers (2 to 262144; Docker's default is 1024).",
        ),
        p(
            "log_size",
            size(),
            "The most of the node's log Docker keeps, e.g. 20m (1m to 1g).",
        ),
        p(
            "capture",
            size(),
            "sniffer, attacker: the largest capture written, e.g. 2g (1m to 4g); capturing stops there and the report says so.",
        ),
    ])
}

fn daemon() -> Shape {
    Shape::Object(vec![
        req(
            "action",
            Shape::Enum(crate::step_rules::DAEMONS.to_vec()),
            "proxy: an on-path DICOM proxy that rewrites PatientName; sniff: captures the attacker's own interface (read by a `harvest` step).",
        ),
        p(
            "with",
            Shape::Any,
            "Options of the daemon (proxy: upstream, rewrite_patient, tamper_pixels; sniff: none).",
        ),
    ])
}

fn tls() -> Shape {
    Shape::Object(vec![
        dflt(
            p(
                "require_client_certificate",
                Shape::Bool,
                "orthanc: refuse clients without a certificate from the run's CA (mutual TLS).",
            ),
            json!(true),
        ),
        dflt(
            p(
                "client_certificate",
                Shape::Bool,
                "modality: present a client certificate from the run's CA.",
            ),
            json!(true),
        ),
    ])
}

fn step() -> Shape {
    Shape::Object(vec![
        p(
            "id",
            Shape::Str {
                pattern: Some(NAME),
            },
            "The step's name, for checks that read its result (default step-<n>).",
        ),
        req(
            "node",
            s(),
            "The node that acts (a modality or an attacker).",
        ),
        req(
            "action",
            Shape::Enum(crate::step_rules::verbs()),
            "What it does; see docs/scenarios.md.",
        ),
        p("to", s(), "The PACS node the action is aimed at."),
        p(
            "via",
            s(),
            "An attacker running a proxy the traffic goes through (on-path).",
        ),
        p("study", study(), "The synthetic study a store sends."),
        p(
            "with",
            Shape::Any,
            "Options of the action (see docs/scenarios.md).",
        ),
        dflt(
            p(
                "expect",
                Shape::Enum(vec!["success", "failure", "any"]),
                "How the step must end (attacker steps default to any).",
            ),
            json!("success"),
        ),
    ])
}

fn study() -> Shape {
    Shape::Object(vec![
        req(
            "modality",
            Shape::Enum(crate::step_rules::STUDY_MODALITIES.to_vec()),
            "XA: X-ray angiography (the paper's case); CT; MR; CR (MONOCHROME1); US (RGB).",
        ),
        dflt(
            p(
                "instances",
                Shape::Int {
                    min: 1,
                    max: 10_000,
                },
                "Number of images.",
            ),
            json!(1),
        ),
        p(
            "syntax",
            Shape::Enum(vec!["jpeg-baseline", "explicit-le"]),
            "Transfer syntax: JPEG Baseline (8-bit; XA and US only, their default) or native Explicit VR Little Endian (the default of CT, MR and CR).",
        ),
        dflt(
            p("patient", s(), "Synthetic Patient's Name, FAMILY^GIVEN."),
            json!("DOE^JANE"),
        ),
        dflt(
            p("patient_id", s(), "Synthetic Patient ID."),
            json!("DR-0001"),
        ),
        dflt(
            p(
                "seed",
                Shape::Int {
                    min: 0,
                    max: u64::MAX,
                },
                "Seed of the synthetic data: the same seed gives the same UIDs and pixels.",
            ),
            json!(1),
        ),
        dflt(
            p("rows", Shape::Int { min: 8, max: 4096 }, "Image rows."),
            json!(512),
        ),
        dflt(
            p("cols", Shape::Int { min: 8, max: 4096 }, "Image columns."),
            json!(512),
        ),
    ])
}

fn check() -> Shape {
    Shape::Object(vec![
        p(
            "step",
            s(),
            "attack.succeeded: the step whose result is graded.",
        ),
        p(
            "rule",
            Shape::Enum(crate::check_rules::ids_rule_names()),
            "ids.alerts: the IDS rule (default: alerts of every rule count).",
        ),
        p(
            "from",
            s(),
            "ids.alerts: count only alerts whose source address is this node's (e.g. the modality: false alerts).",
        ),
        p(
            "min",
            Shape::Int {
                min: 0,
                max: u64::MAX,
            },
            "ids.alerts, log.lines: at least this many.",
        ),
        p(
            "max",
            Shape::Int {
                min: 0,
                max: u64::MAX,
            },
            "ids.alerts, log.lines: at most this many.",
        ),
        p(
            "path",
            s(),
            "pacs.file_written: the absolute path the attack writes.",
        ),
        p("contains", s(), "log.lines: the text a log line contains."),
        req("id", s(), "Unique name of the check within the lab."),
        req(
            "kind",
            Shape::Enum(CHECK_KINDS.to_vec()),
            "What is checked; see docs/scenarios.md.",
        ),
        p(
            "node",
            s(),
            "The PACS node a pacs.* check looks at (default: the only one).",
        ),
        p(
            "equals",
            Shape::Int {
                min: 0,
                max: u64::MAX,
            },
            "pacs.instances: the expected number of stored instances.",
        ),
        p(
            "expect",
            Shape::OneOrList(Box::new(s())),
            "Security checks: `finding` or `none`; pacs.signatures: `valid`, `broken` or `unsigned`; capture.sequence: the labels expected in order.",
        ),
        p(
            "mitre",
            Shape::Str {
                pattern: Some(MITRE),
            },
            "The MITRE mitigation this check demonstrates.",
        ),
        p("description", s(), "What the check means, for the report."),
        p(
            "hidden",
            Shape::Bool,
            "Exercises: graded by `lab grade` only; `lab pack` leaves it out of students' files.",
        ),
        dflt(
            p(
                "points",
                Shape::Int { min: 0, max: 100 },
                "Exercises: what meeting this check is worth in `lab grade`.",
            ),
            json!(1),
        ),
    ])
}

/// The name [`json_schema`] is written under: in docs/, and by `lab pack` beside the
/// students' files, whose schema modeline names it relative to themselves.
pub const SCHEMA_FILE: &str = "scenario.schema.json";

/// The JSON Schema (draft 2020-12) of a lab file.
pub fn json_schema() -> Value {
    let mut root = to_json(&lab());
    let obj = root.as_object_mut().expect("object");
    obj.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    obj.insert(
        "$id".into(),
        json!("https://dicom-range.invalid/scenario.schema.json"),
    );
    obj.insert(
        "title".into(),
        json!("dicom-range lab scenario (dicom-range/v1)"),
    );
    root
}

fn to_json(shape: &Shape) -> Value {
    match shape {
        Shape::Str { pattern: None } => json!({"type": "string"}),
        Shape::Str { pattern: Some(p) } => json!({"type": "string", "pattern": p}),
        Shape::Int { min, max } => {
            let mut v = json!({"type": "integer", "minimum": min});
            if *max < u64::MAX {
                v["maximum"] = json!(max);
            }
            v
        }
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Enum(values) => json!({"enum": values}),
        Shape::List(item) => json!({"type": "array", "items": to_json(item)}),
        Shape::Map {
            key_pattern,
            values,
        } => json!({
            "type": "object",
            "propertyNames": {"pattern": key_pattern},
            "additionalProperties": to_json(values),
        }),
        Shape::Object(props) => {
            let mut properties = Map::new();
            for prop in props {
                let mut v = to_json(&prop.shape);
                v["description"] = json!(prop.description);
                if let Some(d) = &prop.default {
                    v["default"] = d.clone();
                }
                properties.insert(prop.name.into(), v);
            }
            let required: Vec<&str> = props
                .iter()
                .filter(|p| p.required)
                .map(|p| p.name)
                .collect();
            let mut v =
                json!({"type": "object", "additionalProperties": false, "properties": properties});
            if !required.is_empty() {
                v["required"] = json!(required);
            }
            v
        }
        Shape::OneOrList(item) => {
            json!({"oneOf": [to_json(item), {"type": "array", "items": to_json(item)}]})
        }
        Shape::Any => json!({}),
    }
}

/// Every unknown key, missing key and misplaced value of the tree, located.
pub(crate) fn lint(file: &str, root: &YNode) -> Vec<Problem> {
    let mut out = Vec::new();
    walk(file, root, &lab(), "", &mut out);
    out
}

fn here(file: &str, n: &YNode, message: String) -> Problem {
    let mut p = Problem::new(file, message);
    p.line = Some(n.line);
    p.column = Some(n.column);
    p
}

/// `metadata.threat`, `checks[2].kind`; the root is "the top level".
fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn place(path: &str) -> &str {
    if path.is_empty() {
        "the top level"
    } else {
        path
    }
}

fn walk(file: &str, n: &YNode, shape: &Shape, path: &str, out: &mut Vec<Problem>) {
    if matches!(n.kind, YKind::Opaque) {
        return;
    }
    let at = place(path);
    match (shape, &n.kind) {
        (Shape::Any, _) => {}
        (Shape::Object(props), YKind::Map(entries)) => {
            let mut seen = Vec::new();
            for (k, v) in entries {
                let YKind::Scalar(key) = &k.kind else {
                    out.push(here(file, k, format!("{at}: a key must be a plain word")));
                    continue;
                };
                if seen.contains(&key.as_str()) {
                    out.push(here(file, k, format!("{at}: key `{key}` appears twice")));
                }
                seen.push(key);
                match props.iter().find(|p| p.name == key) {
                    Some(prop) => walk(file, v, &prop.shape, &child(path, key), out),
                    None => {
                        let names: Vec<&str> = props.iter().map(|p| p.name).collect();
                        let hint = match did_you_mean(key, names.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("the keys allowed here are: {}", names.join(", ")),
                        };
                        out.push(here(file, k, format!("unknown key `{key}` in {at}")).hint(hint));
                    }
                }
            }
            for prop in props.iter().filter(|p| p.required) {
                if !seen.contains(&prop.name) {
                    out.push(
                        here(file, n, format!("{at} has no `{}`", prop.name))
                            .hint(format!("add `{}:` ({})", prop.name, prop.description)),
                    );
                }
            }
        }
        (Shape::Map { values, .. }, YKind::Map(entries)) => {
            let mut seen: Vec<&str> = Vec::new();
            for (k, v) in entries {
                let key = match &k.kind {
                    YKind::Scalar(key) => key.clone(),
                    _ => "?".into(),
                };
                if seen.contains(&key.as_str()) {
                    out.push(
                        here(file, k, format!("{at}: `{key}` is defined twice"))
                            .hint("give each one its own name"),
                    );
                }
                if let YKind::Scalar(k) = &k.kind {
                    seen.push(k);
                }
                walk(file, v, values, &child(path, &key), out);
            }
        }
        (Shape::List(item), YKind::Seq(items)) => {
            for (i, v) in items.iter().enumerate() {
                walk(file, v, item, &format!("{path}[{}]", i + 1), out);
            }
        }
        (Shape::OneOrList(item), YKind::Seq(items)) => {
            for v in items {
                walk(file, v, item, path, out);
            }
        }
        (Shape::OneOrList(item), YKind::Scalar(_)) => walk(file, n, item, path, out),
        (Shape::Enum(values), YKind::Scalar(v)) => {
            if !values.contains(&v.as_str()) {
                let hint = match did_you_mean(v, values.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("one of: {}", values.join(", ")),
                };
                out.push(here(file, n, format!("`{v}` is not a valid value for {at}")).hint(hint));
            }
        }
        (Shape::Int { min, max }, YKind::Scalar(v)) => match v.parse::<u64>() {
            Ok(x) if (*min..=*max).contains(&x) => {}
            Ok(x) => out.push(here(
                file,
                n,
                format!("{at}: {x} is out of range {min}..={max}"),
            )),
            Err(_) => out.push(here(file, n, format!("{at}: `{v}` is not a whole number"))),
        },
        (Shape::Bool, YKind::Scalar(v)) => {
            if v != "true" && v != "false" {
                out.push(here(file, n, format!("{at}: `{v}` is not true or false")));
            }
        }
        (Shape::Str { .. }, YKind::Scalar(_)) => {}
        (expected, _) => {
            let want = match expected {
                Shape::Object(_) | Shape::Map { .. } => "a mapping (key: value lines)",
                Shape::List(_) => "a list",
                _ => "a single value",
            };
            out.push(here(
                file,
                n,
                format!("{at} must be {want}, not {}", n.describe()),
            ));
        }
    }
}

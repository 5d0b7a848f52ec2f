//! Which options of a `lab-agent` subcommand a lab file may set under a step's (or a
//! daemon's) `with:`, and of what kind. The names are the fields of the subcommand's
//! `*Options` struct (a test holds them to it); the engine builds those structs with
//! [`crate::from_with`]. Keys the engine itself interprets (an ARP victim, a proxy's
//! upstream node) are the scenario's, not listed here.

/// The kind of value an option takes in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// Text (a number is taken as its text).
    Text,
    /// A whole number.
    Number,
    /// true or false.
    Flag,
    /// A list of text values.
    List,
}

use OptionKind::*;

const STEP_OPTIONS: &[(&str, &[(&str, OptionKind)])] = &[
    ("echo", &[]),
    ("store", &[]),
    (
        "find",
        &[("level", Text), ("match", List), ("limit", Number)],
    ),
    ("get", &[("level", Text), ("match", List), ("out", Text)]),
    ("move", &[("level", Text), ("match", List), ("dest", Text)]),
    (
        "aet-scan",
        &[
            ("called", List),
            ("random_probe", Flag),
            ("max", Number),
            ("delay_ms", Number),
        ],
    ),
    ("fingerprint", &[]),
    (
        "rest-probe",
        &[("user", Text), ("password", Text), ("download", Flag)],
    ),
    (
        "rest-write",
        &[("path", Text), ("user", Text), ("password", Text)],
    ),
    (
        "upload-polyglot",
        &[("preamble", Text), ("user", Text), ("password", Text)],
    ),
    (
        "arp-spoof",
        &[
            ("both_ways", Flag),
            ("count", Number),
            ("interval_ms", Number),
        ],
    ),
    (
        "flood",
        &[
            ("associations", Number),
            ("concurrency", Number),
            ("max_secs", Number),
        ],
    ),
];

const DAEMON_OPTIONS: &[(&str, &[(&str, OptionKind)])] = &[
    (
        "proxy",
        &[("rewrite_patient", Text), ("tamper_pixels", Flag)],
    ),
    ("sniff", &[]),
];

/// The `with:` options of a lab-agent step verb; `None` for a verb lab-agent does not run.
pub fn step_options(verb: &str) -> Option<&'static [(&'static str, OptionKind)]> {
    STEP_OPTIONS
        .iter()
        .find(|(v, _)| *v == verb)
        .map(|(_, o)| *o)
}

/// The `with:` options of a lab-agent daemon (an attacker's main process).
pub fn daemon_options(daemon: &str) -> Option<&'static [(&'static str, OptionKind)]> {
    DAEMON_OPTIONS
        .iter()
        .find(|(d, _)| *d == daemon)
        .map(|(_, o)| *o)
}

/// The daemons lab-agent runs.
pub fn daemons() -> impl Iterator<Item = &'static str> {
    DAEMON_OPTIONS.iter().map(|(d, _)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::*;
    use crate::command::*;
    use clap::{ArgAction, Args};

    fn check<T: Args>(verb: &str, table: &[(&str, OptionKind)]) {
        let cmd = T::augment_args(clap::Command::new("x"));
        for (key, kind) in table {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long().map(|l| l.replace('-', "_")).as_deref() == Some(key))
                .unwrap_or_else(|| panic!("{verb}: `{key}` is no option of its struct"));
            let action = arg.get_action();
            match kind {
                Flag => assert!(matches!(action, ArgAction::SetTrue), "{verb} {key}"),
                List => assert!(matches!(action, ArgAction::Append), "{verb} {key}"),
                Text | Number => assert!(matches!(action, ArgAction::Set), "{verb} {key}"),
            }
        }
    }

    #[test]
    fn every_with_option_is_a_field_of_its_options_struct() {
        let s = |v| step_options(v).unwrap();
        check::<FindOptions>("find", s("find"));
        check::<GetOptions>("get", s("get"));
        check::<MoveOptions>("move", s("move"));
        check::<AetScanOptions>("aet-scan", s("aet-scan"));
        check::<RestProbeOptions>("rest-probe", s("rest-probe"));
        check::<RestWriteOptions>("rest-write", s("rest-write"));
        check::<UploadPolyglotOptions>("upload-polyglot", s("upload-polyglot"));
        check::<ArpSpoofOptions>("arp-spoof", s("arp-spoof"));
        check::<FloodOptions>("flood", s("flood"));
        check::<ProxyOptions>("proxy", daemon_options("proxy").unwrap());
        for v in ["echo", "store", "fingerprint"] {
            assert!(s(v).is_empty());
        }
        assert!(daemon_options("sniff").unwrap().is_empty());
    }
}

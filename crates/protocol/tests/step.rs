//! A step's facts and `with:` options become the command lab-agent parses back.

use clap::Parser;
use protocol::step::*;
use protocol::{Cli, Command, IdsRule};
use std::collections::BTreeMap;

fn target() -> StepTarget {
    StepTarget {
        host: "pacs".into(),
        dicom_port: 4242,
        url: "http://pacs:8042".into(),
        calling: Some("CATH".into()),
        called: None,
        tls: Default::default(),
        study: None,
        arp: None,
    }
}

fn with(json: &str) -> BTreeMap<String, serde_json::Value> {
    serde_json::from_str(json).unwrap()
}

fn parses(cmd: &Command) -> Vec<String> {
    let argv = cmd.to_argv();
    assert_eq!(
        &Cli::try_parse_from(&argv).unwrap().command,
        cmd,
        "{argv:?}"
    );
    argv
}

#[test]
fn every_lab_agent_verb_builds_from_its_facts() {
    let mut t = target();
    t.arp = Some(("10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()));
    t.study = Some(protocol::command::StudyArgs {
        modality: protocol::Modality::Xa,
        instances: 1,
        syntax: protocol::Syntax::JpegBaseline,
        patient: "DOE^JANE".into(),
        patient_id: Some("DR-0001".into()),
        seed: 1,
        rows: 512,
        cols: 512,
        bits: None,
    });
    let cases = [
        ("echo", "{}"),
        ("store", "{}"),
        (
            "find",
            r#"{"level": "study", "match": ["PatientName=*"], "limit": 5}"#,
        ),
        ("get", r#"{"match": ["PatientID=1"], "out": "/data/r"}"#),
        ("move", r#"{"match": ["PatientID=1"], "dest": "STORESCP"}"#),
        (
            "aet-scan",
            r#"{"called": ["ORTHANC", "PACS"], "random_probe": true}"#,
        ),
        ("flood", r#"{"associations": 20, "max_secs": 5}"#),
        ("fingerprint", "{}"),
        ("rest-probe", r#"{"download": true, "user": "orthanc"}"#),
        ("rest-write", r#"{"path": "/tmp/x"}"#),
        ("upload-polyglot", r#"{"preamble": "pe"}"#),
        (
            "arp-spoof",
            r#"{"victim": "modality", "both_ways": true, "count": 3}"#,
        ),
    ];
    for (verb, w) in cases {
        let cmd = step_command(verb, &t, &with(w)).unwrap_or_else(|e| panic!("{verb}: {e}"));
        let argv = parses(&cmd);
        assert_eq!(argv[1], verb);
        assert_eq!(cmd.verb(), verb);
    }
    let argv = step_command("find", &t, &with("{}")).unwrap().to_argv();
    let s = argv.join(" ");
    assert!(
        s.contains("--calling CATH") && s.contains("--called ORTHANC"),
        "{s}"
    );
    let argv = step_command("aet-scan", &target(), &with("{}"))
        .unwrap()
        .to_argv();
    assert!(argv.join(" ").contains("--calling CATH"));
    let mut anonymous = target();
    anonymous.calling = None;
    let argv = step_command("flood", &anonymous, &with("{}"))
        .unwrap()
        .to_argv();
    assert!(argv.join(" ").contains("--calling ECHOSCU"), "{argv:?}");
}

#[test]
fn bad_values_and_unknown_verbs_are_errors() {
    assert!(step_command("dicom-ping", &target(), &with("{}")).is_err());
    assert!(step_command("arp-spoof", &target(), &with("{}")).is_err());
    let e = step_command("find", &target(), &with(r#"{"level": "image"}"#)).unwrap_err();
    assert!(e.to_string().contains("image"), "{e}");
}

#[test]
fn daemons_and_taps_build() {
    let t = DaemonTarget {
        capture_out: "/evidence/attacker.pcapng".into(),
        max_bytes: Some(1 << 20),
        listen: "0.0.0.0:4242".into(),
        upstream: "pacs:4242".into(),
        max_secs: 600,
    };
    let proxy = daemon_command(
        "proxy",
        &t,
        &with(r#"{"upstream": "pacs", "rewrite_patient": "EVE^X", "tamper_pixels": true}"#),
    )
    .unwrap();
    let argv = parses(&proxy);
    assert!(argv.contains(&"--tamper-pixels".to_string()));
    assert!(argv.join(" ").contains("--upstream pacs:4242"));
    parses(&daemon_command("sniff", &t, &with("{}")).unwrap());
    parses(&ids_command("br-1", "/evidence/alerts.jsonl", None));
    let ids = parses(&ids_command(
        "br-1",
        "/evidence/alerts.jsonl",
        Some(&[(IdsRule::AssociationFlood, 7)]),
    ))
    .join(" ");
    assert!(ids.contains("--flood-threshold 7"), "{ids}");
    for off in [
        "aet-brute-force",
        "c-find-sweep",
        "phi-in-clear",
        "pe-preamble",
    ] {
        assert!(ids.contains(&format!("--off {off}")), "{ids}");
    }
    assert!(!ids.contains("--off association-flood"), "{ids}");
    let sniff = parses(&sniff_command("br-1", "/evidence/capture.pcapng", Some(9)));
    assert!(sniff.join(" ").contains("--max-bytes 9"));
    assert_eq!(Command::Idle.to_argv(), ["lab-agent", "idle"]);
}

#[test]
fn ready_lines_are_told_by_type() {
    use protocol::result::is_ready_line;
    assert!(is_ready_line(r#"{"event":"capturing","iface":"br-1"}"#));
    assert!(is_ready_line(
        r#"  {"event":"listening","listen":"0.0.0.0:4242","upstream":"p"}"#
    ));
    assert!(!is_ready_line(r#"{"event":"stopped","packets":1}"#));
    assert!(!is_ready_line(r#"lab-agent: "capturing" soon"#));
    let limit = protocol::result::capture_limit(
        "{\"event\":\"capturing\",\"iface\":\"x\"}\n{\"bytes\":10,\"event\":\"capture_limit\",\"max_bytes\":10,\"packets\":2}\n",
    )
    .unwrap();
    assert_eq!((limit.packets, limit.max_bytes), (2, Some(10)));
}

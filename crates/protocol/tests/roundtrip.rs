//! Every subcommand survives `to_argv` then the agent's parser, and the argv says what the
//! agent expects on its command line (the literals here are the wire format).

use clap::{CommandFactory, Parser};
use protocol::attack::*;
use protocol::command::*;
use protocol::{AttackCommand, Cli, Command, FindLevel, Modality, Preamble, Syntax, TlsVersion};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn round_trip(cmd: Command) -> Vec<String> {
    let argv = cmd.to_argv();
    let parsed = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert_eq!(parsed.command, cmd, "{argv:?}");
    argv
}

fn peer() -> PeerArgs {
    PeerArgs {
        host: "pacs".into(),
        port: 104,
        calling: "MODALITY".into(),
        called: "ORTHANC".into(),
        timeout_secs: PeerArgs::DEFAULT_TIMEOUT_SECS,
        username: Some("alice".into()),
        password: Some("-secret".into()),
        tls: TlsArgs {
            tls: true,
            ca: Some("/etc/lab-agent/ca.pem".into()),
            cert: None,
            key: None,
            server_name: Some("pacs".into()),
            tls_version: TlsVersion::V1_3,
        },
    }
}

fn study() -> StudyArgs {
    StudyArgs {
        modality: Modality::Ct,
        instances: 3,
        syntax: Syntax::ExplicitLe,
        patient: "O'BRIEN^X".into(),
        patient_id: Some("DR-1".into()),
        seed: 7,
        rows: 64,
        cols: 32,
        bits: Some(12),
    }
}

fn with(json: &str) -> BTreeMap<String, serde_json::Value> {
    serde_json::from_str(json).unwrap()
}

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn modality_commands_round_trip() {
    assert_eq!(round_trip(Command::Idle), ["lab-agent", "idle"]);
    let argv = round_trip(Command::Echo {
        peer: peer(),
        wait_secs: 30,
    });
    assert_eq!(argv[1], "echo");
    let s = argv.join(" ");
    for part in [
        "--host pacs",
        "--port 104",
        "--tls --",
        "--ca /etc/lab-agent/ca.pem",
        "--password=-secret",
        "--tls-version 1.3",
        "--wait-secs 30",
    ] {
        assert!(s.contains(part), "{part} in {s}");
    }
    round_trip(Command::Store {
        peer: peer(),
        study: study(),
        opts: StoreOptions {
            save_dir: Some("/tmp/s".into()),
            files: vec!["/a".into(), "/b".into()],
            associations: 4,
            summary: true,
        },
    });
    round_trip(Command::Store {
        peer: peer(),
        study: study(),
        opts: protocol::argv::defaults(),
    });
    round_trip(Command::Generate {
        study: study(),
        out: "/tmp/ct".into(),
    });
    let argv = round_trip(Command::Find {
        peer: peer(),
        query: FindOptions {
            level: FindLevel::Series,
            keys: vec!["PatientName=*".into(), "PatientID=".into()],
            limit: 5,
        },
    });
    assert!(
        argv.join(" ")
            .contains("--match PatientName=* --match PatientID=")
    );
    round_trip(Command::Move {
        peer: peer(),
        query: MoveOptions {
            level: FindLevel::Study,
            keys: vec!["StudyInstanceUID=1.2".into()],
            dest: "STORESCP".into(),
        },
    });
    round_trip(Command::Get {
        peer: peer(),
        query: GetOptions {
            level: FindLevel::Patient,
            keys: vec!["PatientID=1".into()],
            out: "/data/r".into(),
        },
    });
    round_trip(Command::Serve(ServeArgs {
        bind: "127.0.0.1".into(),
        port: 11112,
        aet: "STORESCP".into(),
        any_called: true,
        out: "/data".into(),
        max_associations: 2,
        timeout_secs: 3,
        require_user: Some("u".into()),
        require_password: Some("p".into()),
        max_dataset_mb: 8,
    }));
    let argv = round_trip(Command::Sniff(SniffArgs {
        iface: "br-x".into(),
        out: "/captures/capture.pcapng".into(),
        snaplen: SniffArgs::DEFAULT_SNAPLEN,
        max_bytes: Some(1000),
    }));
    assert_eq!(argv[1], "sniff");
}

#[test]
fn attack_commands_round_trip() {
    let a = |c| round_trip(Command::Attack(c));
    let argv = a(AttackCommand::ArpSpoof {
        iface: "eth0".into(),
        target: "10.0.0.2".parse().unwrap(),
        impersonate: "10.0.0.3".parse().unwrap(),
        target_mac: Some("aa:bb:cc:dd:ee:ff".into()),
        opts: ArpSpoofOptions {
            both_ways: true,
            count: 3,
            interval_ms: 0,
        },
    });
    assert_eq!(argv[1], "arp-spoof");
    assert!(argv.contains(&"--both-ways".to_string()));
    a(AttackCommand::Ids {
        iface: "br-x".into(),
        alerts: "/captures/alerts.jsonl".into(),
        opts: protocol::argv::defaults(),
    });
    a(AttackCommand::Proxy {
        listen: "0.0.0.0:4242".into(),
        upstream: "pacs:4242".into(),
        max_secs: 60,
        opts: ProxyOptions {
            rewrite_patient: "ATTACKER^EVE".into(),
            tamper_pixels: true,
            idle_secs: 30,
        },
    });
    let login = RestLogin {
        user: Some("orthanc".into()),
        password: None,
    };
    let rest = RestArgs {
        url: "http://pacs:8042".into(),
        timeout_secs: 5,
    };
    a(AttackCommand::RestProbe {
        rest: rest.clone(),
        opts: RestProbeOptions {
            login: login.clone(),
            download: true,
        },
    });
    a(AttackCommand::RestWrite {
        rest: rest.clone(),
        opts: RestWriteOptions {
            login: login.clone(),
            path: "/tmp/x".into(),
        },
    });
    a(AttackCommand::UploadPolyglot {
        rest,
        opts: UploadPolyglotOptions {
            login,
            preamble: Preamble::Elf,
        },
    });
    a(AttackCommand::Fingerprint {
        host: "pacs".into(),
        port: 4242,
        called: "ORTHANC".into(),
        url: Some("http://pacs:8042".into()),
        opts: protocol::argv::defaults(),
    });
    let argv = a(AttackCommand::AetScan {
        host: "pacs".into(),
        port: 4242,
        calling: SCANNER_AET.into(),
        opts: AetScanOptions {
            called: vec!["ORTHANC".into(), "PACS".into()],
            random_probe: true,
            max: 50,
            delay_ms: 0,
            timeout_secs: 5,
            max_secs: 120,
        },
    });
    assert!(argv.join(" ").contains("--called ORTHANC --called PACS"));
    a(AttackCommand::Flood {
        host: "pacs".into(),
        port: 4242,
        calling: SCANNER_AET.into(),
        opts: protocol::argv::defaults(),
    });
}

#[test]
fn a_comma_separated_called_list_still_parses() {
    let cli = Cli::try_parse_from([
        "lab-agent",
        "aet-scan",
        "--host",
        "pacs",
        "--called",
        "ORTHANC,PACS,ANY-SCP",
    ])
    .unwrap();
    let Command::Attack(AttackCommand::AetScan { opts, .. }) = cli.command else {
        panic!()
    };
    assert_eq!(opts.called, ["ORTHANC", "PACS", "ANY-SCP"]);
}

#[test]
fn with_maps_become_typed_options() {
    let o: AetScanOptions = protocol::from_with(&with(
        r#"{"random_probe": true, "called": ["ORTHANC", "PACS"], "max": 50, "delay_ms": 0}"#,
    ))
    .unwrap();
    assert!(o.random_probe);
    assert_eq!(o.called, ["ORTHANC", "PACS"]);
    assert_eq!((o.max, o.delay_ms, o.max_secs), (50, 0, 120));
    let o: FindOptions =
        protocol::from_with(&with(r#"{"match": ["PatientName=*", "PatientID="]}"#)).unwrap();
    assert_eq!(o.keys, ["PatientName=*", "PatientID="]);
    assert_eq!((o.level, o.limit), (FindLevel::Patient, 1000));
    let o: RestWriteOptions = protocol::from_with(&with(r#"{"path": "/x", "user": "u"}"#)).unwrap();
    assert_eq!(o.login.user.as_deref(), Some("u"));
    let o: FloodOptions = protocol::from_with(&with(r#"{"max_secs": 3}"#)).unwrap();
    assert_eq!(o.max_secs, 3);
    let e = protocol::from_with::<FloodOptions>(&with(r#"{"max_secs": 300}"#)).unwrap_err();
    assert!(e.to_string().contains("300"), "{e}");
    let e = protocol::from_with::<MoveOptions>(&with("{}")).unwrap_err();
    assert!(e.to_string().contains("--dest"), "{e}");
    let _ = PathBuf::new();
}

//! The result lines keep the agent's wire format: the same keys in the same (sorted) order.

use protocol::result::*;

#[test]
fn lines_print_as_they_always_did() {
    let line = to_line(&Capturing {
        alerts: None,
        event: tags::Capturing,
        iface: "br-1".into(),
    });
    assert_eq!(line, r#"{"event":"capturing","iface":"br-1"}"#);
    let line = to_line(&Capturing {
        alerts: Some("/evidence/alerts.jsonl".into()),
        event: tags::Capturing,
        iface: "br-1".into(),
    });
    assert_eq!(
        line,
        r#"{"alerts":"/evidence/alerts.jsonl","event":"capturing","iface":"br-1"}"#
    );
    let line = to_line(&SniffStopped {
        bytes: 10,
        capture_limit_hit: false,
        event: tags::Stopped,
        packets: 1,
    });
    assert_eq!(
        line,
        r#"{"bytes":10,"capture_limit_hit":false,"event":"stopped","packets":1}"#
    );
    let line = to_line(&Failure {
        action: "find".into(),
        error: "no".into(),
        level: Some("PATIENT".into()),
        ok: false,
    });
    assert_eq!(
        line,
        r#"{"action":"find","error":"no","level":"PATIENT","ok":false}"#
    );
}

#[test]
fn every_serialized_line_has_sorted_keys() {
    // serde prints fields in declaration order; the agent's lines were sorted maps.
    let check = |line: String| {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        let printed: Vec<usize> = keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        let mut by_position: Vec<(usize, String)> =
            printed.into_iter().zip(keys.iter().cloned()).collect();
        by_position.sort();
        let mut alphabetical = keys.clone();
        alphabetical.sort();
        assert_eq!(
            by_position.into_iter().map(|(_, k)| k).collect::<Vec<_>>(),
            alphabetical,
            "{line}"
        );
    };
    check(to_line(&StoreResult {
        action: tags::Store,
        associations: 1,
        bytes: 2,
        elapsed_ms: 3,
        error: Some("e".into()),
        instances: Some(vec![]),
        instances_per_s: 1.0,
        mb_per_s: 1.0,
        ok: false,
        peak_rss_kib: 4,
        saved: Some(vec![]),
        stored: 0,
        tls: None,
        total: 1,
        warnings: Some(vec!["w".into()]),
    }));
    check(to_line(&AetScanResult::default()));
    check(to_line(&FloodResult::default()));
    check(to_line(&ArpSpoofResult::default()));
    check(to_line(&ProxyResult::default()));
    check(to_line(&FingerprintResult::default()));
    check(to_line(&RestProbeResult::default()));
    check(to_line(&UploadPolyglotResult::default()));
    check(to_line(&RestWriteResult::default()));
    check(to_line(&ServeAssociation::default()));
}

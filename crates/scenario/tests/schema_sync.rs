//! docs/scenario.schema.json is generated from the same shape the lint enforces; this test
//! keeps the committed file in step. Regenerate with:
//! `UPDATE_SCHEMA=1 cargo test -p scenario --test schema_sync` (or `lab schema > docs/scenario.schema.json`).

use std::path::PathBuf;

#[test]
fn committed_schema_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenario.schema.json");
    let generated = serde_json::to_string_pretty(&scenario::schema::json_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date: run `UPDATE_SCHEMA=1 cargo test -p scenario --test schema_sync`",
        path.display()
    );
}

#[test]
fn schema_names_every_check_kind_and_threat() {
    let schema = serde_json::to_string(&scenario::schema::json_schema()).unwrap();
    for kind in [
        "pacs.instances",
        "capture.phi_in_clear",
        "capture.sequence",
        "insecure-communication",
        "lack-of-intrusion-detection",
    ] {
        assert!(schema.contains(kind), "{kind} missing from the schema");
    }
}

#[test]
fn every_field_is_documented_in_docs_scenarios_md() {
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenarios.md"),
    )
    .unwrap();
    let mut missing = Vec::new();
    fn names(shape: &scenario::schema::Shape, out: &mut Vec<&'static str>) {
        use scenario::schema::Shape;
        match shape {
            Shape::Object(props) => {
                for p in props {
                    out.push(p.name);
                    names(&p.shape, out);
                }
            }
            Shape::List(s) | Shape::OneOrList(s) => names(s, out),
            Shape::Map { values, .. } => names(values, out),
            _ => {}
        }
    }
    let mut all = Vec::new();
    names(&scenario::schema::lab(), &mut all);
    for n in all {
        if !docs.contains(&format!("`{n}`")) {
            missing.push(n);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/scenarios.md does not describe: {missing:?}"
    );
}

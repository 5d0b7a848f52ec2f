//! The catalog as a whole: every lab validates, and every pair joins a vulnerable and a
//! hardened lab about the same threat, in both directions.

use std::path::PathBuf;

#[test]
fn every_pair_exists_and_points_back() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../labs");
    let paths = engine::catalog::list(Some(&dir));
    assert!(paths.len() >= 2, "{paths:?}");
    let index = engine::catalog::index(&paths);
    assert_eq!(
        index.len(),
        paths.len(),
        "a lab of the catalog does not validate"
    );
    for path in &paths {
        let s = scenario::load(path, &Default::default()).unwrap();
        let problems = engine::catalog::pair_problems(&s, &index);
        assert!(
            problems.is_empty(),
            "{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        if let Some(pair) = &s.metadata.pair {
            let other =
                scenario::load(&dir.join(format!("{pair}.yaml")), &Default::default()).unwrap();
            assert_eq!(
                other.metadata.pair.as_deref(),
                Some(s.metadata.name.as_str()),
                "{pair} does not point back"
            );
        }
    }
}

#[test]
fn a_missing_pair_is_located_at_the_pair_key() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../labs");
    let index: Vec<_> = engine::catalog::index(&engine::catalog::list(Some(&dir)))
        .into_iter()
        .filter(|e| e.name != "tls-store")
        .collect();
    let s = scenario::load(&dir.join("plaintext-store.yaml"), &Default::default()).unwrap();
    let problems = engine::catalog::pair_problems(&s, &index);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .message
            .contains("pair `tls-store` is not a lab of the catalog")
    );
    assert_eq!((problems[0].line, problems[0].column), (Some(9), Some(9)));
}

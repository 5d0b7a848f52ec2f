//! Per-student values: drawn from the exercise's seed, the student id and the parameter,
//! so that the same inputs always give the same value.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::error::{Problem, ScenarioError};
use crate::model::Scenario;

const FAMILY: &[&str] = &[
    "ABARA",
    "BELTRAN",
    "CASTELLO",
    "DUVAL",
    "EKWUEME",
    "FONTAINE",
    "GALLO",
    "HALVORSEN",
    "IBARRA",
    "JANSSEN",
    "KOWALCZYK",
    "LINDQVIST",
    "MORETTI",
    "NAKASHIMA",
    "OKAFOR",
    "PELLETIER",
    "QUINTERO",
    "ROSSETTI",
    "SATO",
    "TAVARES",
    "URIBE",
    "VASQUEZ",
    "WINTERBOTTOM",
    "XAVIER",
    "YAMADA",
    "ZIELINSKI",
    "ACHTERBERG",
    "BRANDAO",
    "CIRILLO",
    "DRAGOMIR",
    "ESPOSITO",
    "FARKAS",
];
const GIVEN: &[&str] = &[
    "ADA", "BRUNO", "CLARA", "DMITRI", "ELENA", "FARID", "GRETA", "HUGO", "INES", "JONAS", "KAI",
    "LUCIA", "MATEO", "NINA", "OSKAR", "PALOMA", "QUENTIN", "ROSA", "SVEN", "TALIA", "UMBERTO",
    "VERA", "WANDA", "XENIA", "YUSUF", "ZOE", "AMARA", "BORIS", "CELINE", "DARIO",
];
const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A parameter's value for one student: the same seed, student and parameter always give
/// the same value, and different students (almost always) different ones.
pub fn draw(seed: &str, student: &str, param: &str, how: &str) -> String {
    let mut h = Sha256::new();
    for part in [seed, student, param] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let n = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
    let chars = |count: usize, skip: usize| -> String {
        d[skip..skip + count]
            .iter()
            .map(|b| ALNUM[*b as usize % ALNUM.len()] as char)
            .collect()
    };
    match how {
        "patient-name" => format!(
            "{}^{}",
            FAMILY[(n % FAMILY.len() as u64) as usize],
            GIVEN[((n >> 20) % GIVEN.len() as u64) as usize]
        ),
        "patient-id" => format!("DR-{:06}", n % 1_000_000),
        "ae-title" => format!("MOD{}", chars(6, 8)),
        "secret" => chars(20, 8),
        "port" => (20_000 + n % 10_000).to_string(),
        other => unreachable!("per_student `{other}` passed the schema"),
    }
}

/// Every per-student parameter of an exercise, drawn for `student`.
pub fn draws_for(
    instructor: &Scenario,
    student: &str,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    if instructor.per_student.is_empty() {
        return Ok(BTreeMap::new());
    }
    let Some(seed) = instructor.exercise.as_ref().and_then(|e| e.seed.as_deref()) else {
        return Err(ScenarioError::single(
            Problem::new(
                &instructor.file,
                "parameters are drawn per student, but the exercise has no `seed`",
            )
            .hint("add `exercise.seed: <a secret of yours>`; it makes the draws reproducible"),
        ));
    };
    Ok(instructor
        .per_student
        .iter()
        .map(|(k, how)| (k.clone(), draw(seed, student, k, how)))
        .collect())
}

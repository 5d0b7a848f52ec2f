//! A student's submission (any bytes) read against a real exercise, and any exercise text
//! packed for a student: `overlay` and `pack` return Ok or Err, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

const EXERCISE: &str = include_str!("../../../../labs/exercises/lock-down-ae-titles.yaml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > scenario::MAX_FILE_BYTES {
        return;
    }
    let none = BTreeMap::new();
    let instructor = scenario::parse_str("exercise.yaml", EXERCISE, &none).expect("the exercise parses");
    let _ = scenario::exercise::overlay(EXERCISE, &instructor, "submission.yaml", text, "s1");
    if let Ok(lab) = scenario::parse_str("fuzz.yaml", text, &none) {
        if let Ok(packed) = scenario::exercise::pack(text, &lab, "s1") {
            // A packed handout is itself a lab a student can hand back.
            let _ = scenario::exercise::overlay(text, &lab, "handout.yaml", &packed, "s1");
        }
    }
});

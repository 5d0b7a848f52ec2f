//! Any bytes as a class roster: a list of valid students or a located error, never a panic;
//! the size bound is checked before the CSV reader keeps anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(students) = scenario::roster::parse("roster.csv", data) {
        assert!(!students.is_empty() && students.len() <= scenario::roster::MAX_STUDENTS);
        assert!(students.iter().all(|s| scenario::exercise::valid_student_id(&s.id)));
    }
});

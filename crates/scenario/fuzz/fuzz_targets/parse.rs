//! Any bytes given to the lab parser: it must return Ok or Err, never panic, never hang
//! or exhaust memory (the size cap and parser budgets bound the work).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if text.len() <= scenario::MAX_FILE_BYTES {
            let overrides = BTreeMap::from([("patient".to_string(), "FUZZ^ME".to_string())]);
            let _ = scenario::parse_str("fuzz.yaml", text, &overrides);
            let _ = scenario::parse_str("fuzz.yaml", text, &BTreeMap::new());
        }
    }
});

//! Any text as a line of `SHA256SUMS` (which `lab verify` reads from a run directory that may
//! come from anywhere): a digest and a name, or nothing; never a panic. A name parsed is
//! 64 hex digits' worth of digest and a non-empty name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Some((sum, name)) = report::sums_fuzzing::parse_line(line) {
            assert_eq!(sum.len(), 64);
            assert!(sum.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(!name.is_empty());
        }
    }
});

//! A whole capture file (pcap or pcapng, any link type) through `wire::analyze_bytes`:
//! the file reader, TCP reassembly, DICOM and TLS decoding and the data set pre-scan
//! together, as `lab inspect` and the grader meet a capture. Must never panic, abort or
//! overflow the stack: run with a large `-max_len` so deep nesting is reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Unreadable files are errors, never panics; what is inside becomes issues.
    let _ = wire::analyze_bytes(data);
});

//! The on-path proxy's PDU reader, PDV walker and rewriter over a client stream:
//! `agent::fuzzing::proxy`. Must never panic, abort or allocate beyond its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    agent::fuzzing::proxy(data);
});

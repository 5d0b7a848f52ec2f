//! The PDU stream `serve` and the client read once associated (strict PDU reads, the
//! message assembler, command and data set parsing): `agent::fuzzing::dimse`. Must never
//! panic, abort or allocate beyond its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    agent::fuzzing::dimse(data);
});

//! The IDS detector over two TCP streams of one connection: `agent::fuzzing::ids`. Must
//! never panic, abort or allocate beyond its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    agent::fuzzing::ids(data);
});

//! The DICOM upper layer decoder: two TCP byte streams (client, then server) of one
//! connection on port 104, cut into segments where the input says, through detection,
//! PDU, PDV, DIMSE and data set decoding. Must never panic.
//!
//! Input: `n` (one byte, taken modulo 33), `n` segment-size bytes, the client stream
//! length (3 bytes, big endian, clamped), the client stream, the server stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 33).min(rest.len());
    let (cuts, rest) = rest.split_at(n);
    if rest.len() < 3 {
        return;
    }
    let (len, rest) = rest.split_at(3);
    let client_len = (usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]))
        .min(rest.len());
    let (client, server) = rest.split_at(client_len);
    let a = wire::fuzzing::pdu_stream(client, server, cuts);
    // every event belongs to the one connection
    assert!(a.events.iter().all(|e| e.stream == 0));
});

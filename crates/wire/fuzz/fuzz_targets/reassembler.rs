//! TCP reassembly of one direction: arbitrary segments (sequence numbers near the 2^32
//! wrap, SYNs, overlaps, gaps, retransmissions) with a small buffer bound. Must never
//! panic, deliver chunks in stream order, and never deliver more bytes than it was given.
//!
//! Input: segments of `seq offset` (2 bytes, big endian, added to 0xFFFF_F000),
//! `flags` (1 byte, bit 0 = SYN), `len` (1 byte), `len` payload bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut segs: Vec<(u32, bool, &[u8])> = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let off = u32::from(u16::from_be_bytes([rest[0], rest[1]]));
        let syn = rest[2] & 1 == 1;
        let len = usize::from(rest[3]).min(rest.len() - 4);
        segs.push((0xFFFF_F000u32.wrapping_add(off), syn, &rest[4..4 + len]));
        rest = &rest[4 + len..];
    }
    let given: usize = segs.iter().map(|s| s.2.len()).sum();
    let (delivered, _issues) = wire::fuzzing::reassemble(&segs, 1024);
    assert!(
        delivered.len() <= given,
        "{} delivered, {given} given",
        delivered.len()
    );
});

//! Deterministic robustness test: thousands of random and mutated inputs must never
//! panic, and every malformed thing must stay bounded. (Proper fuzzing comes later.)

mod common;

use common::*;
use dicom_ul::pdu::Pdu;
use std::time::Duration;
use wire::analyze_bytes;

fn mutate(rng: &mut Rng, input: &[u8], start: usize) -> Vec<u8> {
    let mut v = input.to_vec();
    let n = 1 + rng.below(8);
    for _ in 0..n {
        let span = v.len().saturating_sub(start).max(1);
        let at = start + rng.below(span);
        match rng.below(6) {
            0 | 1 => {
                if at < v.len() {
                    v[at] = rng.next() as u8;
                }
            }
            2 => {
                // interesting values: lengths and PDU types
                let vals: [&[u8]; 5] = [
                    &[0xFF, 0xFF, 0xFF, 0xFF],
                    &[0, 0, 0, 0],
                    &[0x7F, 0xFF, 0xFF, 0xFF],
                    &[0x04, 0x00],
                    &[0xFF, 0xFE, 0x00, 0xE0],
                ];
                let val = vals[rng.below(vals.len())];
                for (i, b) in val.iter().enumerate() {
                    if at + i < v.len() {
                        v[at + i] = *b;
                    }
                }
            }
            3 => v.truncate(at),
            4 => {
                let len = rng.below(64);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let at = at.min(v.len());
                v.splice(at..at, bytes);
            }
            _ => {
                let at = at.min(v.len());
                let len = rng.below(32).min(v.len() - at);
                v.drain(at..at + len);
            }
        }
    }
    v
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let conv = store_conversation(50000, 104, "Fuzz^Me");
    let pcap = write_pcap(&conv.frames);
    let pcapng = write_pcapng(&conv.frames);

    // the client's DICOM byte stream, to mutate above TCP
    let mut stream = pdu_bytes(&associate_rq("A", "B"));
    for p in pdata(1, true, &store_rq_command(1), 16_000) {
        stream.extend(p);
    }
    for p in pdata(1, false, &xa_dataset("Fuzz^Me", 2_000), 700) {
        stream.extend(p);
    }
    stream.extend(pdu_bytes(&Pdu::ReleaseRQ));
    let server = {
        let mut s = pdu_bytes(&associate_ac("A", "B"));
        for p in pdata(1, true, &store_rsp_command(1, 0), 16_000) {
            s.extend(p);
        }
        s
    };

    let mut analysed = 0u32;
    let mut with_errors = 0u32;
    let mut check = |data: &[u8]| {
        if let Ok(a) = analyze_bytes(data) {
            analysed += 1;
            if !a.errors.is_empty() {
                with_errors += 1;
            }
            // third-party parsers did not panic either (guard() would have caught it)
            assert!(!a.errors.iter().any(|e| e.message.contains("panicked")));
            // bounded output: never more events/errors than bytes
            assert!(a.events.len() + a.errors.len() <= data.len());
        }
    };

    // 1. purely random buffers, some with a valid pcap/pcapng header prefix
    for i in 0..500 {
        let len = rng.below(600);
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let prefix: &[u8] = match i % 3 {
            0 => &pcap[..24],
            1 => &pcapng[..pcapng.len().min(60)],
            _ => &[],
        };
        data.splice(0..0, prefix.iter().copied());
        check(&data);
    }
    // 2. mutated capture files (headers, frames, everything)
    for i in 0..1000 {
        let base = if i % 2 == 0 { &pcap } else { &pcapng };
        check(&mutate(&mut rng, base, 0));
    }
    // 3. mutated DICOM byte streams in valid TCP/IP frames: exercises PDU, DIMSE and
    //    data-set decoding rather than the capture parsers
    for i in 0..1500 {
        let mut c = Conversation::new(50001, 104);
        c.mss = 200 + rng.below(1200);
        c.time += Duration::from_secs(i);
        c.handshake();
        let client = mutate(&mut rng, &stream, 0);
        let srv = if i % 4 == 0 {
            mutate(&mut rng, &server, 0)
        } else {
            server.clone()
        };
        let half = client.len().min(stream.len() / 10);
        c.send(true, &client[..half]);
        c.send(false, &srv);
        c.send(true, &client[half..]);
        check(&write_pcap(&c.frames));
    }
    // the inputs really reached the analysis and produced issues
    assert!(analysed > 2000, "analysed {analysed}");
    assert!(with_errors > 500, "with errors {with_errors}");
}

/// The exported element walker on mutated data sets: no panic, and it ends (every element
/// it yields moves forward, so at most one per header-sized piece of input).
#[test]
fn element_walker_never_panics_and_always_ends() {
    let mut rng = Rng(0x5EED_1234_ABCD_0002);
    let dataset = xa_dataset("Fuzz^Me", 2_000);
    for i in 0..3000 {
        let data = mutate(&mut rng, &dataset, 0);
        let explicit = i % 2 == 0;
        let mut last = None;
        let mut count = 0;
        for item in wire::top_level_elements(&data, explicit, i % 7 == 0) {
            count += 1;
            assert!(count <= data.len() / 8 + 1, "the walk does not end");
            if let Ok((at, _)) = item {
                assert!(last.is_none_or(|l| at > l), "no progress at {at}");
                last = Some(at);
            }
        }
    }
}

//! Parity with Wireshark's DICOM dissector (`tshark`), on the committed fixtures and on
//! synthetic captures (fragmented P-DATA, fragmented command, command and data set in one
//! PDU, failure statuses, a rejected association).
//!
//! What is compared, per TCP stream (Wireshark's `tcp.stream` and our `Event::stream`,
//! both numbering every TCP connection in order of appearance):
//!
//! 1. the PDU list: the PDU types (1..7), in order. tshark: one `dicom.pdu.type` per
//!    PDU it dissects (`tshark -r F -Y dicom -T pdml`). Ours: one entry per distinct
//!    PDU, i.e. per distinct (`src`, `pdu_offset`) of the events (a P-DATA PDU carrying
//!    two command sets gives two events but one PDU);
//! 2. the DIMSE list: for each complete command set, in order, the Command Field
//!    (0000,0100), the Message ID (0000,0110) or, for responses, the Message ID Being
//!    Responded To (0000,0120), and the Status (0000,0900). tshark: the values of the
//!    group-0000 `dicom.tag` / `dicom.tag.value.16u` fields of each PDV whose flags say
//!    "command, last fragment" (Wireshark shows reassembled command fragments there).
//!    Ours: `Event::dimse`.
//!
//! Not compared: times, frame numbers, Info texts, data set contents. One known
//! Wireshark defect is tolerated and counted: after a JPEG data set, Wireshark 4.0 takes
//! the next command PDV on the same presentation context (the C-STORE-RSP) for the rest
//! of a bogus element it "found" inside the encapsulated pixel data (it shows a "Private
//! Tag" and "Early termination of tag") and finds no Command Field; docs/wireshark.md has
//! the dissector's source lines. Such a command PDV matches any one of our DIMSE messages
//! at the same position, and each capture states how many it may contain (0 for all
//! synthetic ones; 1 for `plaintext-store.pcapng`, frame 36, and 1 for
//! `dcmtk-loopback.pcap`, frame 34: both C-STORE-RSP).
//!
//! The test prints why and passes when `tshark` is not installed (CI installs it through
//! scripts/install-prereqs.sh).

mod common;

use common::*;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, PartialEq)]
struct Dimse {
    field: u16,
    id: Option<u16>,
    status: Option<u16>,
}

#[derive(Debug, Default)]
struct Side {
    /// PDU types per stream, in order.
    pdus: BTreeMap<u32, Vec<u8>>,
    /// DIMSE per stream; `None`: a command PDV tshark could not decode.
    dimse: BTreeMap<u32, Vec<Option<Dimse>>>,
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = line.find(&key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

fn num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Command fields under construction for the current PDV.
#[derive(Default)]
struct Pdv {
    command_last: bool,
    field: Option<u16>,
    id: Option<u16>,
    responded: Option<u16>,
    status: Option<u16>,
}

fn close_pdv(pdv: &mut Option<Pdv>, stream: u32, side: &mut Side) {
    if let Some(p) = pdv.take()
        && p.command_last
    {
        let d = p.field.map(|field| Dimse {
            field,
            id: if field & 0x8000 != 0 {
                p.responded
            } else {
                p.id
            },
            status: p.status,
        });
        side.dimse.entry(stream).or_default().push(d);
    }
}

fn tshark_side(capture: &Path) -> Side {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args(["-o", "dicom.tag_tree:TRUE", "-Y", "dicom", "-T", "pdml"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let pdml = String::from_utf8_lossy(&out.stdout);
    let mut side = Side::default();
    let mut stream = 0u32;
    let mut pdv: Option<Pdv> = None;
    let mut last_tag: Option<u32> = None;
    for line in pdml.lines() {
        let line = line.trim_start();
        if line.starts_with("<packet>") || line.starts_with("<proto name=\"dicom\"") {
            close_pdv(&mut pdv, stream, &mut side);
            continue;
        }
        if !line.starts_with("<field ") {
            continue;
        }
        let (Some(name), Some(show)) = (attr(line, "name"), attr(line, "show")) else {
            continue;
        };
        match name {
            "tcp.stream" => stream = show.parse().expect("tcp.stream"),
            "dicom.pdu.type" => {
                close_pdv(&mut pdv, stream, &mut side);
                let ty = num(show).expect("pdu type") as u8;
                side.pdus.entry(stream).or_default().push(ty);
            }
            "dicom.pdv.flags" => {
                close_pdv(&mut pdv, stream, &mut side);
                let flags = num(show).expect("pdv flags");
                pdv = Some(Pdv {
                    command_last: flags & 3 == 3,
                    ..Default::default()
                });
                last_tag = None;
            }
            "dicom.tag" => last_tag = num(show).map(|t| t as u32),
            "dicom.tag.value.16u" => {
                let (Some(p), Some(tag)) = (pdv.as_mut(), last_tag) else {
                    continue;
                };
                let v = num(show).map(|v| v as u16);
                match tag {
                    0x0000_0100 => p.field = v,
                    0x0000_0110 => p.id = v,
                    0x0000_0120 => p.responded = v,
                    0x0000_0900 => p.status = v,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    close_pdv(&mut pdv, stream, &mut side);
    side
}

fn pdu_type(name: &str) -> u8 {
    match name {
        "A-ASSOCIATE-RQ" => 1,
        "A-ASSOCIATE-AC" => 2,
        "A-ASSOCIATE-RJ" => 3,
        "P-DATA-TF" => 4,
        "A-RELEASE-RQ" => 5,
        "A-RELEASE-RP" => 6,
        "A-ABORT" => 7,
        other => panic!("not a PDU: {other}"),
    }
}

fn field_of(command: &str) -> u16 {
    (0..=0xFFFFu16)
        .find(|f| wire::command_name(*f) == Some(command))
        .unwrap_or_else(|| panic!("unknown command {command}"))
}

fn our_side(capture: &Path) -> Side {
    let a = wire::analyze_file(capture).expect("analyse");
    let mut side = Side::default();
    let mut last_pdu: Option<(u32, String, u64)> = None;
    for e in a.events.iter().filter(|e| e.pdu != "TLS") {
        let key = (e.stream, e.src.clone(), e.pdu_offset);
        if last_pdu.as_ref() != Some(&key) {
            side.pdus
                .entry(e.stream)
                .or_default()
                .push(pdu_type(&e.pdu));
            last_pdu = Some(key);
        }
        if let Some(d) = &e.dimse {
            let field = field_of(&d.command);
            side.dimse.entry(e.stream).or_default().push(Some(Dimse {
                field,
                id: if field & 0x8000 != 0 {
                    d.responded_id
                } else {
                    d.message_id
                },
                status: d.status,
            }));
        }
    }
    side
}

/// Compare; returns how many tshark command PDVs had to be tolerated as undecoded.
fn compare(capture: &Path) -> usize {
    let theirs = tshark_side(capture);
    let ours = our_side(capture);
    let name = capture.display();
    assert!(
        !theirs.pdus.is_empty(),
        "{name}: tshark saw no DICOM at all"
    );
    assert_eq!(ours.pdus, theirs.pdus, "{name}: PDU lists differ");
    let streams: std::collections::BTreeSet<&u32> =
        ours.dimse.keys().chain(theirs.dimse.keys()).collect();
    let mut tolerated = 0;
    for s in streams {
        let o = ours.dimse.get(s).cloned().unwrap_or_default();
        let t = theirs.dimse.get(s).cloned().unwrap_or_default();
        assert_eq!(
            o.len(),
            t.len(),
            "{name} stream {s}: DIMSE lists differ in length\n ours: {o:?}\n tshark: {t:?}"
        );
        for (i, (ov, tv)) in o.iter().zip(&t).enumerate() {
            match tv {
                None => {
                    eprintln!(
                        "{name} stream {s}: tshark could not decode command #{i}; ours: {ov:?}"
                    );
                    tolerated += 1
                }
                Some(tv) => assert_eq!(
                    ov.as_ref(),
                    Some(tv),
                    "{name} stream {s}: DIMSE #{i} differs"
                ),
            }
        }
    }
    tolerated
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Synthetic captures, each with a name.
fn synthetic() -> Vec<(&'static str, Vec<Frame>)> {
    let mut out = Vec::new();

    // C-STORE with the data set in three P-DATA PDUs (fragmented P-DATA), TCP segments
    // of 1000 bytes cutting PDUs anywhere
    out.push((
        "store-fragmented",
        store_conversation(50123, 104, "Doe^Jane").frames,
    ));

    // rejected association on a non-standard port
    let mut c = Conversation::new(50200, 11112);
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("MODALITY", "WRONG_AE")));
    c.send(false, &pdu_bytes(&associate_rj()));
    c.close();
    out.push(("rejected", c.frames));

    // C-ECHO, then a C-STORE refused with status A700, the command set in 40-byte
    // fragments (one PDU each), then an abort
    let mut c = Conversation::new(50300, 104);
    c.mss = 1460;
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("SCU", "SCP")));
    c.send(false, &pdu_bytes(&associate_ac("SCU", "SCP")));
    for p in pdata(3, true, &echo_rq_command(5), 16_000) {
        c.send(true, &p);
    }
    for p in pdata(3, true, &echo_rsp_command(5), 16_000) {
        c.send(false, &p);
    }
    for p in pdata(1, true, &store_rq_command(6), 40) {
        c.send(true, &p);
    }
    for p in pdata(1, false, &xa_dataset("Roe^Richard", 5_000), 16_000) {
        c.send(true, &p);
    }
    for p in pdata(1, true, &store_rsp_command(6, 0xA700), 16_000) {
        c.send(false, &p);
    }
    c.send(
        true,
        &pdu_bytes(&Pdu::AbortRQ {
            source: dicom_ul::pdu::AbortRQSource::ServiceUser,
        }),
    );
    c.close();
    out.push(("echo-refused-store-abort", c.frames));

    // command and data set in the same P-DATA PDU, and two C-STOREs back to back in one
    // TCP segment
    let mut c = Conversation::new(50400, 104);
    c.mss = 64_000;
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("MODALITY", "ORTHANC")));
    c.send(false, &pdu_bytes(&associate_ac("MODALITY", "ORTHANC")));
    let mut burst = Vec::new();
    for id in [11u16, 12] {
        burst.extend(pdu_bytes(&Pdu::PData {
            data: vec![
                PDataValue {
                    presentation_context_id: 1,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: store_rq_command(id),
                },
                PDataValue {
                    presentation_context_id: 1,
                    value_type: PDataValueType::Data,
                    is_last: true,
                    data: xa_dataset("Poe^Edgar", 2_000),
                },
            ],
        }));
    }
    c.send(true, &burst);
    for id in [11u16, 12] {
        for p in pdata(1, true, &store_rsp_command(id, 0), 16_000) {
            c.send(false, &p);
        }
    }
    c.send(true, &pdu_bytes(&Pdu::ReleaseRQ));
    c.send(false, &pdu_bytes(&Pdu::ReleaseRP));
    c.close();
    out.push(("command-and-data-in-one-pdu", c.frames));
    out
}

#[test]
fn pdu_and_dimse_lists_match_tshark() {
    if !tshark_available() {
        let hint =
            "tshark is not installed (apt-get install tshark; scripts/install-prereqs.sh does it)";
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{hint}");
        eprintln!("pdu_and_dimse_lists_match_tshark not run here: {hint}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("wire-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut jobs: Vec<(PathBuf, usize)> = vec![
        (fixture("dcmtk-loopback.pcap"), 1),
        (fixture("plaintext-store.pcapng"), 1),
    ];
    for (i, (name, frames)) in synthetic().into_iter().enumerate() {
        // alternate pcap and pcapng
        let (bytes, ext) = if i % 2 == 0 {
            (write_pcap(&frames), "pcap")
        } else {
            (write_pcapng(&frames), "pcapng")
        };
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, bytes).unwrap();
        jobs.push((path, 0));
    }
    // tshark starts slowly: run the comparisons in parallel
    let results: Vec<(PathBuf, usize, std::thread::Result<usize>)> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(p, max)| (p.clone(), *max, s.spawn(|| compare(p))))
            .collect();
        handles
            .into_iter()
            .map(|(p, max, h)| (p, max, h.join()))
            .collect()
    });
    let _ = std::fs::remove_dir_all(&dir);
    for (path, max, r) in results {
        match r {
            Ok(tolerated) => assert!(
                tolerated <= max,
                "{}: {tolerated} command PDVs tshark could not decode (at most {max} expected)",
                path.display()
            ),
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

fn echo_command(field: u16, id_tag: dicom_core::Tag, id: u16, status: Option<u16>) -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(VERIFICATION),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(field)),
        DataElement::new(id_tag, VR::US, PrimitiveValue::from(id)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0101u16),
        ),
    ];
    if let Some(s) = status {
        elements.push(DataElement::new(
            tags::STATUS,
            VR::US,
            PrimitiveValue::from(s),
        ));
    }
    let obj = dicom_object::InMemDicomObject::command_from_element_iter(elements);
    let mut out = Vec::new();
    obj.write_dataset_with_ts(
        &mut out,
        &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .expect("write command");
    out
}

fn echo_rq_command(id: u16) -> Vec<u8> {
    echo_command(0x0030, dicom_dictionary_std::tags::MESSAGE_ID, id, None)
}

fn echo_rsp_command(id: u16) -> Vec<u8> {
    echo_command(
        0x8030,
        dicom_dictionary_std::tags::MESSAGE_ID_BEING_RESPONDED_TO,
        id,
        Some(0),
    )
}

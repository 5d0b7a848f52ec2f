//! Entry points for the cargo-fuzz targets (`crates/agent/fuzz`); not a stable API.
//! Each runs the code the agent runs on bytes from a peer, without sockets.

use crate::attack::proxy::{Negotiated, ProxyOptions, Rewriter, Totals};
use crate::dimse::{self, MessageAssembler};
use crate::ids::{AlertSink, Detector, Thresholds};
use dicom_dictionary_std::tags;
use dicom_ul::Pdu;
use std::sync::Mutex;
use std::time::Duration;

/// The maximum PDU length the fuzzed receivers announce.
const MAX_PDU: u32 = 16_384;
/// The data set bound of the fuzzed assembler (small, so that the bound is reached).
const MAX_DATASET: usize = 1 << 20;

/// The transfer syntax of a presentation context id in the fuzzed associations.
fn ts_of(pc_id: u8) -> &'static str {
    match pc_id % 4 {
        0 => "1.2.840.10008.1.2",
        1 => "1.2.840.10008.1.2.1",
        2 => "1.2.840.10008.1.2.4.50",
        _ => "1.2.840.10008.1.2.2",
    }
}

/// `data` as the PDU stream serve and the client read after the association is
/// established: strict PDU reads within [`MAX_PDU`], the [`MessageAssembler`], then the
/// command fields and the data sets parsed as serve, the C-FIND and the C-GET paths do.
/// Returns how many messages came out.
pub fn dimse(data: &[u8]) -> usize {
    let mut asm = MessageAssembler::new(MAX_DATASET, "");
    let mut rest = data;
    let mut messages = 0;
    loop {
        let mut cur = std::io::Cursor::new(rest);
        let pdu = match dicom_ul::pdu::read_pdu(&mut cur, MAX_PDU, true) {
            Ok(Some(p)) => p,
            _ => return messages,
        };
        rest = &rest[cur.position() as usize..];
        let Pdu::PData { data } = pdu else { continue };
        let Ok(done) = asm.feed(data) else {
            return messages;
        };
        for m in done {
            messages += 1;
            let _ = dimse::get_u16(&m.command, tags::COMMAND_FIELD);
            let _ = dimse::get_str(&m.command, tags::AFFECTED_SOP_INSTANCE_UID);
            if let Some(d) = &m.data {
                let ts = ts_of(m.pc_id);
                // the C-FIND's parse, which checks first as serve and the C-GET do
                let _ = dimse::parse_dataset(d, ts);
            }
        }
    }
}

/// `data` as the client's PDUs through the proxy: A-ASSOCIATE-RQ and other PDUs pass,
/// P-DATA-TF go through the [`Rewriter`] (PatientName rewritten, lesion painted) with the
/// upstream's maximum length from the first byte. Returns the bytes it would send.
pub fn proxy(data: &[u8]) -> usize {
    let Some((&max, mut rest)) = data.split_first() else {
        return 0;
    };
    let neg = Mutex::new(Negotiated::default());
    {
        let mut n = neg.lock().unwrap();
        for pc in (1u8..=15).step_by(2) {
            n.ts.insert(pc, ts_of(pc / 2).to_string());
        }
        n.upstream_max = u32::from(max) * 256;
    }
    let opts = ProxyOptions {
        listen: String::new(),
        upstream: String::new(),
        new_name: "ATTACKER^EVE".into(),
        tamper_pixels: true,
        max_time: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
    };
    let totals = Totals::default();
    let mut rw = Rewriter::default();
    let mut sent = 0;
    while rest.len() >= 6 {
        let len = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
        let Some(p) = rest.get(..6 + len.min(rest.len() - 6)) else {
            break;
        };
        rest = &rest[p.len()..];
        if p[0] != 0x04 {
            sent += p.len();
            continue;
        }
        match rw.pdata(p, &neg, &opts, &totals) {
            Ok(None) => sent += p.len(),
            Ok(Some(pdus)) => {
                for q in pdus {
                    let body = u32::from_be_bytes([q[2], q[3], q[4], q[5]]) as usize;
                    assert_eq!(body + 6, q.len(), "a PDU whose length field lies");
                    sent += q.len();
                }
            }
            Err(_) => break,
        }
    }
    sent
}

/// `data` through the IDS: with a first byte of 0, the rest is the pcap byte stream the
/// capture thread hands the analysis thread. Otherwise the next four bytes (little endian)
/// say how long the client's byte stream is, the server's follows; both are cut into TCP
/// segments of `1 + 8 * first byte` bytes (at most 1460), sent alternately (client first)
/// on one connection to port 104, through the packet rules and, as a pcap stream, the
/// analysis. Returns the number of alerts.
pub fn ids(data: &[u8]) -> u64 {
    let Some((&mode, rest)) = data.split_first() else {
        return 0;
    };
    let emit: fn(&protocol::result::Alert) = |_| {};
    let window = Duration::from_secs(60);
    let sink = || {
        AlertSink::new(
            Detector::new(window, Thresholds::default()),
            None,
            window,
            emit,
        )
    };
    let mut analysis = sink();
    if mode == 0 {
        let _ = crate::ids::analyse(rest, &mut analysis);
        return analysis.alerts();
    }
    let Some((n, rest)) = rest.split_first_chunk::<4>() else {
        return 0;
    };
    let (client, server) = rest.split_at((u32::from_le_bytes(*n) as usize).min(rest.len()));
    let mut packets = sink();
    let ends = [([10, 0, 0, 5], 40_000u16), ([10, 0, 0, 2], 104u16)];
    let mut seq = [1000u32, 9000u32];
    let mut left = [client, server];
    let mut pcap = crate::ids::pcap_header(1, 262_144);
    let size = (1 + 8 * usize::from(mode)).min(1460);
    let mut i = 0u32;
    while left.iter().any(|l| !l.is_empty()) {
        let dir = (i % 2) as usize;
        i += 1;
        if left[dir].is_empty() {
            continue;
        }
        let (seg, r) = left[dir].split_at(size.min(left[dir].len()));
        left[dir] = r;
        let frame = wire::fuzzing::tcp_frame(ends[dir], ends[1 - dir], seq[dir], seg);
        seq[dir] = seq[dir].wrapping_add(seg.len() as u32);
        crate::ids::packet(
            &mut packets,
            1_700_000_000.0 + f64::from(i) / 1000.0,
            &frame,
        );
        pcap.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        pcap.extend_from_slice(&(i * 1000).to_le_bytes());
        pcap.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        pcap.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        pcap.extend_from_slice(&frame);
    }
    let _ = crate::ids::analyse(&pcap[..], &mut analysis);
    analysis.alerts() + packets.alerts()
}

/// Seed inputs for the fuzz targets (`crates/agent/fuzz/corpus/<target>/`): a C-STORE, a
/// C-FIND exchange and hostile variants, in each target's input format.
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    seeds_nesting(200)
}

/// [`seeds`] with `levels` of nesting in the `c-store-deep` one.
fn seeds_nesting(levels: usize) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let s = samples(levels);
    let mut out = Vec::new();
    for (name, client, server) in &s {
        let mut pdata = Vec::new();
        // serve and the client see PDUs after the association: drop the A-ASSOCIATE-RQ/AC
        for stream in [client, server] {
            pdata.extend(pdus_after_association(stream));
        }
        out.push(("dimse", *name, pdata));
        let mut p = vec![64u8];
        p.extend_from_slice(client);
        out.push(("proxy", *name, p));
        let mut i = vec![255u8];
        i.extend_from_slice(&(client.len() as u32).to_le_bytes());
        i.extend_from_slice(client);
        i.extend_from_slice(server);
        out.push(("ids", *name, i));
    }
    out
}

fn pdus_after_association(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 6 {
        let len = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
        let n = (6 + len).min(rest.len());
        if !matches!(rest[0], 0x01 | 0x02) {
            out.extend_from_slice(&rest[..n]);
        }
        rest = &rest[n..];
    }
    out
}

/// (name, client stream, server stream) of small associations.
fn samples(levels: usize) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
    use dicom_dictionary_std::uids;
    use dicom_ul::pdu::*;
    let explicit = uids::EXPLICIT_VR_LITTLE_ENDIAN;
    let rq = Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "MODALITY".into(),
        called_ae_title: "ORTHANC".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![
            PresentationContextProposed {
                id: 1,
                abstract_syntax: uids::CT_IMAGE_STORAGE.into(),
                transfer_syntaxes: vec![explicit.into()],
            },
            PresentationContextProposed {
                id: 3,
                abstract_syntax: uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND.into(),
                transfer_syntaxes: vec![explicit.into()],
            },
        ],
        user_variables: vec![UserVariableItem::MaxLength(MAX_PDU)],
    });
    let ac = Pdu::AssociationAC(AssociationAC {
        protocol_version: 1,
        calling_ae_title: "MODALITY".into(),
        called_ae_title: "ORTHANC".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: [1, 3]
            .map(|id| PresentationContextResult {
                id,
                reason: PresentationContextResultReason::Acceptance,
                transfer_syntax: explicit.into(),
            })
            .to_vec(),
        user_variables: vec![UserVariableItem::MaxLength(MAX_PDU)],
    });
    let enc = |p: &Pdu| crate::attack::raw::encode(p).expect("encodable");
    let command = |pc: u8, c: &dicom_object::InMemDicomObject| {
        enc(&dimse::command_pdu(pc, c).expect("encodable"))
    };
    let data_pdus =
        |pc: u8, d: &[u8]| -> Vec<u8> { crate::attack::proxy::fragment(pc, d, MAX_PDU).concat() };
    let with_data = |mut c: dicom_object::InMemDicomObject| {
        c.put(DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ));
        c
    };
    let spec = crate::synth::StudySpec {
        rows: 16,
        cols: 16,
        ..Default::default()
    };
    let image = crate::synth::generate(&spec).expect("synthetic image")[0]
        .encode_dataset()
        .expect("encodable");
    let store = with_data(dimse::store_rq(1, uids::CT_IMAGE_STORAGE, "1.2.3.4"));
    let store_rsp = dimse::response(
        dimse::command::C_STORE_RSP,
        1,
        uids::CT_IMAGE_STORAGE,
        Some("1.2.3.4"),
        0,
    );
    let release = enc(&Pdu::ReleaseRQ);
    let release_rp = enc(&Pdu::ReleaseRP);

    let mut out = Vec::new();
    let mut c = enc(&rq);
    c.extend(command(1, &store));
    c.extend(data_pdus(1, &image));
    c.extend(&release);
    let mut s = enc(&ac);
    s.extend(command(1, &store_rsp));
    s.extend(&release_rp);
    out.push(("c-store", c, s.clone()));

    let mut deep = Vec::new();
    for _ in 0..levels {
        deep.extend_from_slice(&[
            0x08, 0, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        deep.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    deep.extend_from_slice(&image);
    let mut c = enc(&rq);
    c.extend(command(1, &store));
    c.extend(data_pdus(1, &deep));
    out.push(("c-store-deep", c, s.clone()));

    let mut lying = vec![0x00, 0x00, 0x02, 0x00];
    lying.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    lying.extend_from_slice(b"1.2.840.1000");
    let mut c = enc(&rq);
    c.extend(enc(&Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: 1,
            value_type: PDataValueType::Command,
            is_last: true,
            data: lying,
        }],
    }));
    out.push(("lying-command", c, s));

    // C-FIND: a pending response with its identifier and the final one in one PDU
    let find = with_data(dimse::find_rq(
        1,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    ));
    let ident = dimse::encode_dataset(
        &dicom_object::InMemDicomObject::from_element_iter([DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("DOE^JANE"),
        )]),
        explicit,
    )
    .expect("encodable");
    let pending = with_data(dimse::response(
        dimse::command::C_FIND_RSP,
        1,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        None,
        0xFF00,
    ));
    let last = dimse::response(
        dimse::command::C_FIND_RSP,
        1,
        uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        None,
        0,
    );
    let cmd_bytes = |c: &dicom_object::InMemDicomObject| match dimse::command_pdu(3, c) {
        Ok(Pdu::PData { mut data }) => data.remove(0).data,
        _ => Vec::new(),
    };
    let pdv = |value_type, data| PDataValue {
        presentation_context_id: 3,
        value_type,
        is_last: true,
        data,
    };
    let mut c = enc(&rq);
    c.extend(command(3, &find));
    c.extend(data_pdus(3, &ident));
    c.extend(&release);
    let mut s = enc(&ac);
    s.extend(enc(&Pdu::PData {
        data: vec![
            pdv(PDataValueType::Command, cmd_bytes(&pending)),
            pdv(PDataValueType::Data, ident.clone()),
            pdv(PDataValueType::Command, cmd_bytes(&last)),
        ],
    }));
    s.extend(&release_rp);
    out.push(("c-find", c, s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(target: &str, name: &str) -> Vec<u8> {
        seeds()
            .into_iter()
            .find(|(t, n, _)| *t == target && *n == name)
            .map(|(_, _, d)| d)
            .unwrap()
    }

    #[test]
    fn the_assembler_path_sees_every_message() {
        // C-STORE-RQ, C-STORE-RSP, then C-FIND-RQ, two C-FIND-RSPs in one PDU
        assert_eq!(dimse(&seed("dimse", "c-store")), 2);
        assert_eq!(dimse(&seed("dimse", "c-find")), 3);
        assert_eq!(dimse(&seed("dimse", "lying-command")), 0);
    }

    #[test]
    fn the_ids_analysis_survives_deep_nesting_and_still_sees_phi() {
        // the control: the PatientName in clear in the C-STORE is seen (phi-in-clear)
        assert_eq!(ids(&seed("ids", "c-store")), 1);
        // 10,000 nested levels before the same image, as the hostile peers send: the
        // analysis thread refuses the data set (no PHI read from it) and goes on
        let deep = seeds_nesting(10_000)
            .into_iter()
            .find(|(t, n, _)| *t == "ids" && *n == "c-store-deep")
            .unwrap()
            .2;
        assert_eq!(ids(&deep), 0);
    }

    #[test]
    fn the_proxy_path_rewrites_the_name() {
        assert!(proxy(&seed("proxy", "c-store")) > 0);
        assert_eq!(proxy(&[]), 0);
    }

    /// `AGENT_FUZZ_SEEDS=$PWD/crates/agent/fuzz/corpus cargo test -p agent --lib write_seeds
    /// -- --ignored` writes the seeds.
    #[test]
    #[ignore = "a tool, not a test: writes the fuzz seeds when run by hand"]
    fn write_seeds() {
        let dir = std::path::PathBuf::from(std::env::var("AGENT_FUZZ_SEEDS").unwrap());
        for (target, name, data) in seeds() {
            std::fs::create_dir_all(dir.join(target)).unwrap();
            std::fs::write(dir.join(target).join(name), data).unwrap();
        }
    }
}

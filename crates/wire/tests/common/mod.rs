//! Builders for synthetic captures: real PDUs (dicom-ul's writer), real command and data
//! sets (dicom-object's writer), real Ethernet/IPv4/TCP frames (etherparse), written as
//! pcap or pcapng by pcap-file.
#![allow(dead_code)]

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::{
    EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
};
use dicom_ul::pdu::{
    AssociationAC, AssociationRJ, AssociationRJResult, AssociationRJServiceUserReason,
    AssociationRJSource, AssociationRQ, PDataValue, PDataValueType, Pdu,
    PresentationContextProposed, PresentationContextResult, PresentationContextResultReason,
    UserVariableItem, write_pdu,
};
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use std::borrow::Cow;
use std::time::Duration;

pub const XA_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.12.1";
pub const VERIFICATION: &str = "1.2.840.10008.1.1";
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
pub const SOP_INSTANCE: &str = "1.2.826.0.1.3680043.2.1125.1.1";

pub fn pdu_bytes(pdu: &Pdu) -> Vec<u8> {
    let mut out = Vec::new();
    write_pdu(&mut out, pdu).expect("write_pdu");
    out
}

pub fn associate_rq(calling: &str, called: &str) -> Pdu {
    Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: calling.into(),
        called_ae_title: called.into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![
            PresentationContextProposed {
                id: 1,
                abstract_syntax: XA_STORAGE.into(),
                transfer_syntaxes: vec![EXPLICIT_LE.into(), IMPLICIT_LE.into()],
            },
            PresentationContextProposed {
                id: 3,
                abstract_syntax: VERIFICATION.into(),
                transfer_syntaxes: vec![IMPLICIT_LE.into()],
            },
        ],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    })
}

pub fn associate_ac(calling: &str, called: &str) -> Pdu {
    Pdu::AssociationAC(AssociationAC {
        protocol_version: 1,
        calling_ae_title: calling.into(),
        called_ae_title: called.into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![
            PresentationContextResult {
                id: 1,
                reason: PresentationContextResultReason::Acceptance,
                transfer_syntax: EXPLICIT_LE.into(),
            },
            PresentationContextResult {
                id: 3,
                reason: PresentationContextResultReason::Acceptance,
                transfer_syntax: IMPLICIT_LE.into(),
            },
        ],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    })
}

pub fn associate_rj() -> Pdu {
    Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Permanent,
        source: AssociationRJSource::ServiceUser(
            AssociationRJServiceUserReason::CalledAETitleNotRecognized,
        ),
    })
}

fn command(elements: Vec<DataElement<InMemDicomObject>>) -> Vec<u8> {
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .expect("write command");
    out
}

pub fn store_rq_command(message_id: u16) -> Vec<u8> {
    command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(XA_STORAGE),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(SOP_INSTANCE),
        ),
    ])
}

pub fn store_rsp_command(responded: u16, status: u16) -> Vec<u8> {
    command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(XA_STORAGE),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x8001u16)),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            PrimitiveValue::from(responded),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0101u16),
        ),
        DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(status)),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(SOP_INSTANCE),
        ),
    ])
}

/// An XA data set with PHI and `pixel_bytes` of (native) pixel data, Explicit VR LE.
pub fn xa_dataset(patient: &str, pixel_bytes: usize) -> Vec<u8> {
    let obj = InMemDicomObject::from_element_iter(vec![
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(XA_STORAGE),
        ),
        DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(SOP_INSTANCE),
        ),
        DataElement::new(
            tags::ACCESSION_NUMBER,
            VR::SH,
            PrimitiveValue::from("ACC123"),
        ),
        DataElement::new(
            tags::INSTITUTION_NAME,
            VR::LO,
            PrimitiveValue::from("General Hospital"),
        ),
        DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from(patient)),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("PID-42")),
        DataElement::new(
            tags::PATIENT_BIRTH_DATE,
            VR::DA,
            PrimitiveValue::from("19700101"),
        ),
        DataElement::new(tags::PATIENT_SEX, VR::CS, PrimitiveValue::from("F")),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![0x55u8; pixel_bytes]),
        ),
    ]);
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, &EXPLICIT_VR_LITTLE_ENDIAN.erased())
        .expect("write data set");
    out
}

/// P-DATA-TF PDUs carrying `data` on context `pcid`, at most `max_pdv` bytes per PDV.
pub fn pdata(pcid: u8, command: bool, data: &[u8], max_pdv: usize) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = data.chunks(max_pdv).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            pdu_bytes(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pcid,
                    value_type: if command {
                        PDataValueType::Command
                    } else {
                        PDataValueType::Data
                    },
                    is_last: i + 1 == n,
                    data: c.to_vec(),
                }],
            })
        })
        .collect()
}

/// One captured frame: time and Ethernet bytes.
#[derive(Clone)]
pub struct Frame {
    pub time: Duration,
    pub data: Vec<u8>,
}

/// A TCP conversation between a client and a server, producing Ethernet frames.
pub struct Conversation {
    pub client: ([u8; 4], u16),
    pub server: ([u8; 4], u16),
    pub cseq: u32,
    pub sseq: u32,
    pub time: Duration,
    pub frames: Vec<Frame>,
    pub mss: usize,
}

impl Conversation {
    pub fn new(client_port: u16, server_port: u16) -> Self {
        Conversation {
            client: ([127, 0, 0, 1], client_port),
            server: ([127, 0, 0, 1], server_port),
            cseq: 1000,
            sseq: 0xFFFF_FF00, // wraps around during the test
            time: Duration::from_secs(1_700_000_000),
            frames: Vec::new(),
            mss: 1000,
        }
    }

    fn frame(&mut self, from_client: bool, flags: &str, payload: &[u8]) {
        let (src, dst, seq, ack) = if from_client {
            (self.client, self.server, self.cseq, self.sseq)
        } else {
            (self.server, self.client, self.sseq, self.cseq)
        };
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, seq, 65535);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('A') {
            b = b.ack(ack);
        }
        if flags.contains('F') {
            b = b.fin();
        }
        let mut data = Vec::new();
        b.write(&mut data, payload).expect("frame");
        self.time += Duration::from_micros(250);
        self.frames.push(Frame {
            time: self.time,
            data,
        });
    }

    pub fn handshake(&mut self) {
        self.frame(true, "S", &[]);
        self.cseq = self.cseq.wrapping_add(1);
        self.frame(false, "SA", &[]);
        self.sseq = self.sseq.wrapping_add(1);
        self.frame(true, "A", &[]);
    }

    /// Send bytes, split in segments of at most `mss` bytes.
    pub fn send(&mut self, from_client: bool, bytes: &[u8]) {
        for seg in bytes.chunks(self.mss) {
            self.frame(from_client, "A", seg);
            if from_client {
                self.cseq = self.cseq.wrapping_add(seg.len() as u32);
            } else {
                self.sseq = self.sseq.wrapping_add(seg.len() as u32);
            }
        }
    }

    pub fn close(&mut self) {
        self.frame(true, "FA", &[]);
        self.cseq = self.cseq.wrapping_add(1);
        self.frame(false, "FA", &[]);
        self.sseq = self.sseq.wrapping_add(1);
        self.frame(true, "A", &[]);
    }
}

/// A full C-STORE association: RQ, AC, C-STORE-RQ command, data set in several PDUs,
/// C-STORE-RSP, release.
pub fn store_conversation(client_port: u16, server_port: u16, patient: &str) -> Conversation {
    let mut c = Conversation::new(client_port, server_port);
    c.handshake();
    c.send(true, &pdu_bytes(&associate_rq("MODALITY", "ORTHANC")));
    c.send(false, &pdu_bytes(&associate_ac("MODALITY", "ORTHANC")));
    for p in pdata(1, true, &store_rq_command(1), 16_000) {
        c.send(true, &p);
    }
    let ds = xa_dataset(patient, 40_000);
    let mut stream = Vec::new();
    for p in pdata(1, false, &ds, 16_000) {
        stream.extend(p);
    }
    // the data-set PDUs go in one write, split by TCP at arbitrary places
    c.send(true, &stream);
    for p in pdata(1, true, &store_rsp_command(1, 0x0000), 16_000) {
        c.send(false, &p);
    }
    c.send(true, &pdu_bytes(&Pdu::ReleaseRQ));
    c.send(false, &pdu_bytes(&Pdu::ReleaseRP));
    c.close();
    c
}

pub fn write_pcap(frames: &[Frame]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new()).expect("pcap writer");
    for f in frames {
        w.write_packet(&PcapPacket::new(f.time, f.data.len() as u32, &f.data))
            .expect("write packet");
    }
    w.into_writer()
}

/// pcapng with nanosecond timestamps (if_tsresol = 9).
pub fn write_pcapng(frames: &[Frame]) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).expect("pcapng writer");
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![InterfaceDescriptionOption::IfTsResol(9)],
    })
    .expect("idb");
    for f in frames {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: f.time,
            original_len: f.data.len() as u32,
            data: Cow::Borrowed(&f.data),
            options: vec![],
        })
        .expect("epb");
    }
    w.into_inner()
}

/// Deterministic xorshift generator (no external crate, same sequence every run).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

//! `just bench-wire` (`cargo bench -p wire --bench throughput`): wire against tshark on a
//! large synthetic capture.
//!
//! 1. Generates (once; reused while its parameters do not change)
//!    `target/wire-bench/ct-store-<n>.pcap`: associations of C-STOREs of CT-sized images
//!    (512x512x16 bit, Explicit VR Little Endian, PHI in the header), the data sets in
//!    16 KB P-DATA PDUs, the TCP streams cut into 1460-byte segments with the server ACKing
//!    every second segment, Ethernet/IPv4/TCP frames at 1 Gbit/s pacing.
//! 2. Analyses it with wire in a child process (this binary with `--analyze`; the release
//!    library through the same streaming path as `lab inspect`: the table writer, to a
//!    null output) and reads that process's peak RSS (VmHWM).
//! 3. Runs `tshark -n -r F -Y dicom` (output to a null device) and, separately,
//!    `tshark -n -r F -Y dicom -T fields -e tcp.stream -e dicom.pdu.type` for the PDU list.
//! 4. Checks the PDU lists (PDU types in order per TCP stream) are identical, prints
//!    times, MB/s, the ratio and peak RSS (tshark's via /usr/bin/time when present).
//!
//! Exits 1 when the PDU lists differ or an analysis fails. The goals (5x tshark, 64 MB)
//! are printed with the measured figures, not enforced: timings depend on the machine.
//!
//! Options: `--stores N` (default 220), `--per-assoc K` (default 22), `--keep-going`
//! (no tshark), `--analyze FILE` (internal).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::{
    EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
};
use dicom_ul::pdu::{
    AssociationAC, AssociationRQ, PDataValue, PDataValueType, Pdu, PresentationContextProposed,
    PresentationContextResult, PresentationContextResultReason, UserVariableItem, write_pdu,
};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const CT_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const MSS: usize = 1460;
const MAX_PDU: usize = 16 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(file) = opt("--analyze") {
        analyze_child(Path::new(&file));
        return;
    }
    let stores: usize = opt("--stores").and_then(|s| s.parse().ok()).unwrap_or(220);
    let per_assoc: usize = opt("--per-assoc")
        .and_then(|s| s.parse().ok())
        .unwrap_or(22)
        .max(1);
    let dir = target_dir().join("wire-bench");
    std::fs::create_dir_all(&dir).expect("create target/wire-bench");
    let file = dir.join(format!("ct-store-{stores}x{per_assoc}.pcap"));
    if !file.exists() {
        let t = Instant::now();
        let tmp = file.with_extension("pcap.part");
        generate(&tmp, stores, per_assoc).expect("generate capture");
        std::fs::rename(&tmp, &file).expect("rename capture");
        eprintln!(
            "generated {} in {:.1} s",
            file.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&file).expect("capture").len();
    let mb = size as f64 / 1e6;
    println!(
        "capture: {} ({mb:.1} MB, {stores} C-STOREs of 512x512x16 CT images, {} associations)",
        file.display(),
        stores.div_ceil(per_assoc)
    );

    // ours, in a child process so that its peak RSS is its own
    let exe = std::env::current_exe().expect("current exe");
    let t = Instant::now();
    let out = Command::new(&exe)
        .arg("--analyze")
        .arg(&file)
        .stderr(Stdio::inherit())
        .output()
        .expect("run the analysis child");
    let ours_s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!("wire analysis failed");
        std::process::exit(1);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let hwm_kb: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("VmHWM_kB "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let ours = parse_pdu_list(lines);
    let n_ours: usize = ours.values().map(Vec::len).sum();
    println!(
        "wire:   {ours_s:7.2} s  {:8.1} MB/s  peak RSS {:.1} MB  ({n_ours} PDUs)",
        mb / ours_s,
        hwm_kb as f64 / 1024.0
    );
    if args.iter().any(|a| a == "--keep-going") {
        return;
    }

    if Command::new("tshark").arg("--version").output().is_err() {
        println!("tshark not installed: no comparison (apt-get install tshark)");
        return;
    }
    let time_bin = Path::new("/usr/bin/time").exists();
    let mut cmd = if time_bin {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "tshark"]);
        c
    } else {
        Command::new("tshark")
    };
    cmd.args(["-n", "-r"])
        .arg(&file)
        .args(["-Y", "dicom"])
        .stdout(Stdio::null());
    let t = Instant::now();
    let o = cmd.output().expect("run tshark");
    let tshark_s = t.elapsed().as_secs_f64();
    if !o.status.success() {
        eprintln!("tshark failed: {}", String::from_utf8_lossy(&o.stderr));
        std::process::exit(1);
    }
    let tshark_rss = if time_bin {
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<f64>().ok())
            .map(|kb| format!("peak RSS {:.1} MB", kb / 1024.0))
            .unwrap_or_default()
    } else {
        String::new()
    };
    println!(
        "tshark: {tshark_s:7.2} s  {:8.1} MB/s  {tshark_rss}  (tshark -n -r F -Y dicom)",
        mb / tshark_s
    );

    let t = Instant::now();
    let o = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&file)
        .args([
            "-Y",
            "dicom",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "dicom.pdu.type",
        ])
        .output()
        .expect("run tshark -T fields");
    let fields_s = t.elapsed().as_secs_f64();
    let mut theirs: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let mut it = line.split('\t');
        let (Some(s), Some(types)) = (it.next(), it.next()) else {
            continue;
        };
        let Ok(s) = s.parse::<u32>() else { continue };
        for ty in types.split(',') {
            let ty = u8::from_str_radix(ty.trim_start_matches("0x"), 16).unwrap_or(0);
            theirs.entry(s).or_default().push(ty);
        }
    }
    let n_theirs: usize = theirs.values().map(Vec::len).sum();
    println!(
        "tshark: {fields_s:7.2} s  {:8.1} MB/s  (PDU list: -T fields -e tcp.stream -e dicom.pdu.type, {n_theirs} PDUs)",
        mb / fields_s
    );
    let ratio = tshark_s / ours_s;
    println!(
        "ratio:  wire is {ratio:.1}x tshark's throughput (goal >= 5x: {}); wire peak RSS {:.1} MB (goal <= 64 MB: {})",
        if ratio >= 5.0 { "met" } else { "MISSED" },
        hwm_kb as f64 / 1024.0,
        if hwm_kb <= 64 * 1024 { "met" } else { "MISSED" }
    );
    if ours == theirs {
        println!(
            "PDU lists identical ({n_ours} PDUs in {} streams)",
            ours.len()
        );
    } else {
        println!("PDU lists DIFFER: wire {n_ours} PDUs, tshark {n_theirs}");
        for (s, v) in &ours {
            if theirs.get(s) != Some(v) {
                println!(
                    "  stream {s}: wire {} PDUs, tshark {}",
                    v.len(),
                    theirs.get(s).map_or(0, Vec::len)
                );
            }
        }
        std::process::exit(1);
    }
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

fn parse_pdu_list<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeMap<u32, Vec<u8>> {
    let mut m: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for l in lines {
        if let Some((s, t)) = l.split_once(' ')
            && let (Ok(s), Ok(t)) = (s.parse(), t.parse())
        {
            m.entry(s).or_default().push(t);
        }
    }
    m
}

/// The child: the streaming analysis with the table writer to a null output, plus the
/// PDU list; prints VmHWM, then `stream type` per PDU.
fn analyze_child(file: &Path) {
    struct Bench {
        table: wire::Table<std::io::Sink>,
        pdus: Vec<(u32, u8)>,
        last: Option<(u32, String, u64)>,
    }
    impl wire::Sink for Bench {
        fn event(&mut self, e: wire::Event) {
            let ty = match e.pdu.as_str() {
                "A-ASSOCIATE-RQ" => 1,
                "A-ASSOCIATE-AC" => 2,
                "A-ASSOCIATE-RJ" => 3,
                "P-DATA-TF" => 4,
                "A-RELEASE-RQ" => 5,
                "A-RELEASE-RP" => 6,
                "A-ABORT" => 7,
                _ => 0,
            };
            if ty != 0 {
                let key = (e.stream, e.src.clone(), e.pdu_offset);
                if self.last.as_ref() != Some(&key) {
                    self.pdus.push((e.stream, ty));
                    self.last = Some(key);
                }
            }
            self.table.event(e);
        }
        fn phi(&mut self, p: wire::PhiSeen) {
            self.table.phi(p);
        }
        fn issue(&mut self, i: wire::WireIssue) {
            eprintln!("issue: {}", i.message);
            self.table.issue(i);
        }
        fn association(&mut self, a: wire::Association) {
            self.table.association(a);
        }
    }
    let mut sink = Bench {
        table: wire::Table::new(std::io::sink()),
        pdus: Vec::new(),
        last: None,
    };
    if let Err(e) = wire::analyze_file_with(file, &mut sink) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_else(|| "0".into());
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "VmHWM_kB {hwm}").expect("stdout");
    for (s, t) in &sink.pdus {
        writeln!(out, "{s} {t}").expect("stdout");
    }
}

// ---- capture generation ----

fn pdu(p: &Pdu) -> Vec<u8> {
    let mut v = Vec::new();
    write_pdu(&mut v, p).expect("write pdu");
    v
}

fn command(elements: Vec<DataElement<InMemDicomObject>>) -> Vec<u8> {
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .expect("write command");
    out
}

fn store_rq(id: u16, instance: &str) -> Vec<u8> {
    command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(CT_STORAGE),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(id)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(instance),
        ),
    ])
}

fn store_rsp(id: u16, instance: &str) -> Vec<u8> {
    command(vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(CT_STORAGE),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x8001u16)),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            PrimitiveValue::from(id),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0101u16),
        ),
        DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(instance),
        ),
    ])
}

fn ct_dataset(instance: &str, patient: &str) -> Vec<u8> {
    let pixels: Vec<u8> = (0..512 * 512u32)
        .flat_map(|i| (((i * 7) % 4096) as u16).to_le_bytes())
        .collect();
    let s = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let u = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let obj = InMemDicomObject::from_element_iter(vec![
        s(tags::SOP_CLASS_UID, VR::UI, CT_STORAGE),
        s(tags::SOP_INSTANCE_UID, VR::UI, instance),
        s(tags::STUDY_DATE, VR::DA, "20260101"),
        s(tags::ACCESSION_NUMBER, VR::SH, "ACC-BENCH"),
        s(tags::MODALITY, VR::CS, "CT"),
        s(tags::INSTITUTION_NAME, VR::LO, "Bench Hospital"),
        s(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "HOUSE^GREGORY"),
        s(tags::STUDY_DESCRIPTION, VR::LO, "CT chest"),
        s(tags::PATIENT_NAME, VR::PN, patient),
        s(tags::PATIENT_ID, VR::LO, "PID-BENCH"),
        s(tags::PATIENT_BIRTH_DATE, VR::DA, "19700101"),
        s(tags::PATIENT_SEX, VR::CS, "O"),
        s(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.2.1125.9.1",
        ),
        s(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.2.1125.9.2",
        ),
        s(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        u(tags::SAMPLES_PER_PIXEL, 1),
        u(tags::ROWS, 512),
        u(tags::COLUMNS, 512),
        u(tags::BITS_ALLOCATED, 16),
        u(tags::BITS_STORED, 12),
        u(tags::HIGH_BIT, 11),
        u(tags::PIXEL_REPRESENTATION, 0),
        DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::from(pixels)),
    ]);
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, &EXPLICIT_VR_LITTLE_ENDIAN.erased())
        .expect("write data set");
    out
}

/// P-DATA-TF PDUs of at most `MAX_PDU` bytes carrying `data` as PDV fragments.
fn pdata(command: bool, data: &[u8]) -> Vec<u8> {
    let max = MAX_PDU - 6;
    let n = data.len().div_ceil(max).max(1);
    let mut out = Vec::with_capacity(data.len() + n * 12);
    for (i, c) in data.chunks(max).enumerate() {
        out.extend(pdu(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: 1,
                value_type: if command {
                    PDataValueType::Command
                } else {
                    PDataValueType::Data
                },
                is_last: i + 1 == n,
                data: c.to_vec(),
            }],
        }));
    }
    out
}

struct Writer<W: Write> {
    w: W,
    time_us: u64,
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    seq: [u32; 2],
    ip_id: u16,
    unacked: usize,
}

impl<W: Write> Writer<W> {
    fn frame(&mut self, from_client: bool, flags: u8, payload: &[u8]) -> std::io::Result<()> {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let d = usize::from(!from_client);
        let (seq, ack) = (self.seq[d], self.seq[1 - d]);
        let mut f = Vec::with_capacity(54 + payload.len());
        let (smac, dmac) = if from_client {
            ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        } else {
            ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        };
        f.extend(dmac);
        f.extend(smac);
        f.extend([0x08, 0x00]);
        let total = (40 + payload.len()) as u16;
        self.ip_id = self.ip_id.wrapping_add(1);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src.0);
        ip[16..20].copy_from_slice(&dst.0);
        let mut sum = 0u32;
        for c in ip.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        f.extend(ip);
        f.extend(src.1.to_be_bytes());
        f.extend(dst.1.to_be_bytes());
        f.extend(seq.to_be_bytes());
        f.extend(ack.to_be_bytes());
        f.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        let syn_fin = u32::from(flags & 0x03 != 0);
        self.seq[d] = seq.wrapping_add(payload.len() as u32 + syn_fin);
        // 1 Gbit/s: 8 ns per byte on the wire (plus preamble and gap)
        self.time_us += (f.len() as u64 + 24) * 8 / 1000 + 1;
        let (s, us) = (
            1_780_000_000 + self.time_us / 1_000_000,
            self.time_us % 1_000_000,
        );
        self.w.write_all(&(s as u32).to_le_bytes())?;
        self.w.write_all(&(us as u32).to_le_bytes())?;
        self.w.write_all(&(f.len() as u32).to_le_bytes())?;
        self.w.write_all(&(f.len() as u32).to_le_bytes())?;
        self.w.write_all(&f)
    }

    /// Send bytes in MSS segments, the peer ACKing every second one.
    fn send(&mut self, from_client: bool, bytes: &[u8]) -> std::io::Result<()> {
        for seg in bytes.chunks(MSS) {
            self.frame(from_client, 0x18, seg)?;
            self.unacked += 1;
            if self.unacked == 2 {
                self.frame(!from_client, 0x10, &[])?;
                self.unacked = 0;
            }
        }
        Ok(())
    }
}

fn generate(path: &Path, stores: usize, per_assoc: usize) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    // pcap global header: microseconds, snaplen 262144, Ethernet
    w.write_all(&0xa1b2c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&262_144u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;
    let rq = pdu(&Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "CT_SCANNER".into(),
        called_ae_title: "ORTHANC".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextProposed {
            id: 1,
            abstract_syntax: CT_STORAGE.into(),
            transfer_syntaxes: vec![EXPLICIT_LE.into(), IMPLICIT_LE.into()],
        }],
        user_variables: vec![UserVariableItem::MaxLength(MAX_PDU as u32)],
    }));
    let ac = pdu(&Pdu::AssociationAC(AssociationAC {
        protocol_version: 1,
        calling_ae_title: "CT_SCANNER".into(),
        called_ae_title: "ORTHANC".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextResult {
            id: 1,
            reason: PresentationContextResultReason::Acceptance,
            transfer_syntax: EXPLICIT_LE.into(),
        }],
        user_variables: vec![UserVariableItem::MaxLength(MAX_PDU as u32)],
    }));
    let mut time_us = 0;
    let mut done = 0;
    let mut assoc = 0u16;
    while done < stores {
        let mut c = Writer {
            w: &mut w,
            time_us,
            client: ([10, 213, 0, 2], 40_000 + assoc),
            server: ([10, 213, 0, 3], 104),
            seq: [1_000_000u32.wrapping_mul(u32::from(assoc) + 1), 0xFFF0_0000],
            ip_id: 0,
            unacked: 0,
        };
        c.frame(true, 0x02, &[])?;
        c.frame(false, 0x12, &[])?;
        c.frame(true, 0x10, &[])?;
        c.send(true, &rq)?;
        c.send(false, &ac)?;
        for i in 0..per_assoc.min(stores - done) {
            let id = (i + 1) as u16;
            let instance = format!("1.2.826.0.1.3680043.2.1125.9.3.{assoc}.{id}");
            let mut burst = pdata(true, &store_rq(id, &instance));
            burst.extend(pdata(
                false,
                &ct_dataset(&instance, &format!("BENCH^PATIENT{assoc}")),
            ));
            c.send(true, &burst)?;
            c.unacked = 0;
            c.send(false, &pdata(true, &store_rsp(id, &instance)))?;
            c.unacked = 0;
            done += 1;
        }
        c.send(true, &pdu(&Pdu::ReleaseRQ))?;
        c.send(false, &pdu(&Pdu::ReleaseRP))?;
        c.frame(true, 0x11, &[])?;
        c.frame(false, 0x11, &[])?;
        c.frame(true, 0x10, &[])?;
        time_us = c.time_us + 1000;
        assoc += 1;
    }
    w.flush()
}

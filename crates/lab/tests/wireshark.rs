//! What Wireshark's DICOM dissector (tshark, Debian 12's 4.0) shows of a fresh
//! `plaintext-store` capture, as docs/wireshark.md and the lab's description tell
//! students: after the JPEG data set, the PACS's C-STORE-RSP is listed as "P-DATA,
//! Command" with a Malformed expert item whenever the protocol tree is built (a display
//! filter, `-V`, the Wireshark window), because the dissector left a bogus element open in
//! the encapsulated pixel data; without a tree it is the C-STORE-RSP (Success) it is. No
//! DICOM preference and no two-pass read change that, and after an Explicit VR Little
//! Endian data set the response is shown right. When a Wireshark release changes any of
//! this, this test fails and docs/wireshark.md must say what students see instead.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{expect_exit, lab_in, only_run, runs_dir};

/// The Info text of the response when the dissector reads it.
const RSP_READ: &str = "P-DATA, C-STORE-RSP ID=1 (Success)";
/// The Info text of the response when the dissector took it for the open element's rest.
const RSP_LOST: &str = "P-DATA, Command";
/// The expert item it carries then (`ei_dcm_data_tag` in packet-dcm.c).
const LOST_FILTER: &str = "dicom.data.tag.missing";
const LOST_MESSAGE: &str = "Early termination of tag. Data is missing";
/// PI_MALFORMED and PI_ERROR of epan/proto.h, as `_ws.expert.group` / `.severity` print.
const PI_MALFORMED: u32 = 0x0700_0000;
const PI_ERROR: u32 = 0x0080_0000;
/// The filter docs/wireshark.md gives students: the bytes of (0000,0100) = 0x8001 and of
/// (0000,0900) = 0x0000 in Implicit VR Little Endian.
const RSP_BYTES_FILTER: &str =
    "dicom contains 00:00:00:01:02:00:00:00:01:80 && dicom contains 00:00:00:09:02:00:00:00:00:00";

fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let hint =
            "tshark is not installed (apt-get install tshark; scripts/install-prereqs.sh does it)";
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{hint}");
        eprintln!("not run here: {hint}");
    }
    ok
}

fn tshark(cap: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(cap)
        .args(args)
        .output()
        .expect("tshark runs");
    expect_exit(&out, 0)
}

/// The DICOM frames of tshark's summary as (frame, Info). `-T tabs` keeps the summary
/// format, so no protocol tree is built unless `args` ask for one.
fn summary(cap: &Path, args: &[&str]) -> Vec<(u32, String)> {
    let mut all = vec!["-T", "tabs"];
    all.extend_from_slice(args);
    tshark(cap, &all)
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let frame = cols.first()?.trim().parse().ok()?;
            let info = cols.last()?.to_string();
            (cols.get(5) == Some(&"DICOM")).then_some((frame, info))
        })
        .collect()
}

fn info_of(frames: &[(u32, String)], frame: u32) -> &str {
    frames
        .iter()
        .find(|(f, _)| *f == frame)
        .map(|(_, i)| i.as_str())
        .unwrap_or_else(|| panic!("frame {frame} is not DICOM in {frames:?}"))
}

/// `tshark -V` of one frame: the dissection tree, as the packet details pane shows it.
fn details(cap: &Path, frame: u32) -> String {
    tshark(cap, &["-V", "-Y", &format!("frame.number=={frame}")])
}

/// Runs `lab` (a catalog name or a file) and returns the run's capture.
fn capture_of(dir: &Path, lab: &str) -> PathBuf {
    expect_exit(&lab_in(dir, &["run", lab]), 0);
    only_run(dir).join("capture.pcapng")
}

/// The one frame tshark names the response in when it builds no tree.
fn response_frame(cap: &Path) -> u32 {
    let plain = summary(cap, &[]);
    let rsp: Vec<u32> = plain
        .iter()
        .filter(|(_, i)| i == RSP_READ)
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(rsp.len(), 1, "one C-STORE-RSP without a tree: {plain:?}");
    rsp[0]
}

/// The frame the data set was reassembled in: the last "... Image Storage" P-DATA before
/// the response.
fn data_set_frame(frames: &[(u32, String)], rsp: u32) -> u32 {
    frames
        .iter()
        .filter(|(f, i)| *f < rsp && i.ends_with("Image Storage"))
        .map(|(f, _)| *f)
        .next_back()
        .unwrap_or_else(|| panic!("no data set before frame {rsp}: {frames:?}"))
}

/// The element header `(gggg,eeee)` a details line starts with.
fn tag_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    (t.starts_with('(') && t.get(10..11) == Some(")")).then(|| &t[..11])
}

#[test]
fn after_a_jpeg_data_set_tshark_shows_the_store_response_as_a_malformed_command() {
    if !have_tshark() {
        return;
    }
    let dir = runs_dir("wireshark-jpeg");
    let cap = capture_of(&dir, "plaintext-store");
    let rsp = response_frame(&cap);

    // With a protocol tree, the way Wireshark's window and any filter read it; no DICOM
    // preference and no two-pass read changes it.
    for args in [
        &["-Y", "dicom"][..],
        &["-2", "-Y", "dicom"],
        &["-o", "dicom.pdv_reassemble:FALSE", "-Y", "dicom"],
        &["-o", "dicom.seq_tree:FALSE", "-Y", "dicom"],
        &["-o", "dicom.tag_tree:TRUE", "-Y", "dicom"],
        &["-o", "dicom.export_header:FALSE", "-Y", "dicom"],
        &["-o", "dicom.export_minsize:0", "-Y", "dicom"],
    ] {
        let frames = summary(&cap, args);
        assert_eq!(
            info_of(&frames, rsp),
            RSP_LOST,
            "tshark {args:?}: {frames:?}"
        );
        assert!(
            !frames.iter().any(|(_, i)| i.contains("C-STORE-RSP")),
            "tshark {args:?} now names the response: update docs/wireshark.md: {frames:?}"
        );
    }

    // The expert item, and only on the response.
    let missing = summary(&cap, &["-Y", LOST_FILTER]);
    assert_eq!(
        missing.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        [rsp],
        "{missing:?}"
    );
    let expert = tshark(
        &cap,
        &[
            "-Y",
            &format!("frame.number=={rsp}"),
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "_ws.expert.message",
            "-e",
            "_ws.expert.group",
            "-e",
            "_ws.expert.severity",
        ],
    );
    assert_eq!(
        expert.trim(),
        format!("{LOST_MESSAGE}|{PI_MALFORMED}|{PI_ERROR}")
    );

    // The cause: the element the response is shown as the "<incomplete>" end of is the
    // one the data set's pixel data item left open ("<Bytes 1 - n, start>").
    let rsp_tree = details(&cap, rsp);
    let lost = rsp_tree
        .lines()
        .find(|l| l.contains("<incomplete>"))
        .unwrap_or_else(|| panic!("no <incomplete> element in frame {rsp}:\n{rsp_tree}"));
    let open_tag = tag_of(lost).unwrap_or_else(|| panic!("no tag in {lost:?}"));
    assert!(
        !rsp_tree.contains("(0000,0100)"),
        "frame {rsp} shows a Command Field now:\n{rsp_tree}"
    );
    let data = data_set_frame(&summary(&cap, &["-Y", "dicom"]), rsp);
    let data_tree = details(&cap, data);
    let pixel_data = data_tree
        .find("(7fe0,0010)")
        .unwrap_or_else(|| panic!("no Pixel Data in frame {data}:\n{data_tree}"));
    let after: Vec<&str> = data_tree[pixel_data..].lines().collect();
    assert!(after[0].contains("<udef>"), "{}", after[0]);
    assert!(
        after
            .iter()
            .any(|l| tag_of(l) == Some(open_tag) && l.contains(", start>")),
        "frame {data}'s pixel data does not open {open_tag}:\n{}",
        after.join("\n")
    );

    // What the student reads instead: the response's bytes, by the filter the docs give.
    let by_bytes = summary(&cap, &["-Y", RSP_BYTES_FILTER]);
    assert_eq!(
        by_bytes.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        [rsp],
        "{by_bytes:?}"
    );
}

#[test]
fn after_an_explicit_vr_data_set_tshark_shows_the_store_response() {
    if !have_tshark() {
        return;
    }
    let dir = runs_dir("wireshark-explicit-le");
    let jpeg = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../labs/plaintext-store.yaml"),
    )
    .unwrap();
    let explicit = jpeg.replace("syntax: jpeg-baseline", "syntax: explicit-le");
    assert_ne!(explicit, jpeg, "plaintext-store no longer stores JPEG");
    let lab_file = dir.join("plaintext-store-explicit-le.yaml");
    std::fs::write(&lab_file, explicit).unwrap();
    let cap = capture_of(&dir, lab_file.to_str().unwrap());
    let rsp = response_frame(&cap);

    let frames = summary(&cap, &["-Y", "dicom"]);
    assert_eq!(info_of(&frames, rsp), RSP_READ, "{frames:?}");
    let missing = summary(&cap, &["-Y", LOST_FILTER]);
    assert!(missing.is_empty(), "{missing:?}");
    let data_tree = details(&cap, data_set_frame(&frames, rsp));
    let pixel_data = data_tree
        .lines()
        .find(|l| l.contains("(7fe0,0010)"))
        .unwrap_or_else(|| panic!("no Pixel Data:\n{data_tree}"));
    assert!(!pixel_data.contains("<udef>"), "{pixel_data}");
}

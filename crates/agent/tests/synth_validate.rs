//! Every synthetic modality, written by `lab-agent generate`, checked by other DICOM
//! implementations: dcmtk's `dcmdump` parses it, `dcmdjpeg` decodes its JPEG pixel data, and
//! dicom3tools' `dciodvfy` finds no IOD error (both tools are prerequisites).

mod common;

use common::*;
use std::process::Command;

const CASES: &[(&str, &str)] = &[
    ("XA", "jpeg-baseline"),
    ("XA", "explicit-le"),
    ("CT", "explicit-le"),
    ("MR", "explicit-le"),
    ("CR", "explicit-le"),
    ("US", "explicit-le"),
    ("US", "jpeg-baseline"),
];

fn generate(dir: &std::path::Path, modality: &str, syntax: &str) -> Vec<std::path::PathBuf> {
    let out = Command::new(env!("CARGO_BIN_EXE_lab-agent"))
        .args(["generate", "--modality", modality, "--syntax", syntax])
        .args([
            "--instances",
            "2",
            "--rows",
            "96",
            "--cols",
            "80",
            "--seed",
            "7",
        ])
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{modality} {syntax}: {files:?}");
    files
}

#[test]
fn every_modality_parses_and_validates_with_dcmtk_and_dicom3tools() {
    let root = temp_dir("synth-validate");
    let (dcmdump, dcmdjpeg, dciodvfy) =
        (on_path("dcmdump"), on_path("dcmdjpeg"), on_path("dciodvfy"));
    // The validators are prerequisites (scripts/install-prereqs.sh), not options: a test
    // that skipped them would pass without checking anything.
    assert!(
        dciodvfy,
        "dciodvfy is not installed: run scripts/install-prereqs.sh (apt-get install dicom3tools)"
    );
    assert!(
        dcmdump && dcmdjpeg,
        "dcmtk's dcmdump/dcmdjpeg are not installed: run scripts/install-prereqs.sh"
    );
    for (modality, syntax) in CASES {
        let dir = root.join(format!("{modality}-{syntax}"));
        for f in generate(&dir, modality, syntax) {
            let what = format!("{modality} {syntax} {}", f.display());
            // dicom-object reads it back, with the modality we asked for.
            let obj = dicom_object::open_file(&f).unwrap_or_else(|e| panic!("{what}: {e}"));
            let m = obj
                .element(dicom_dictionary_std::tags::MODALITY)
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_string();
            assert_eq!(&m, modality, "{what}");
            if dcmdump {
                let out = Command::new("dcmdump").arg(&f).output().unwrap();
                assert!(out.status.success(), "{what}: dcmdump failed: {out:?}");
            }
            if dcmdjpeg && *syntax == "jpeg-baseline" {
                let dec = dir.join("decoded.dcm");
                let out = Command::new("dcmdjpeg").arg(&f).arg(&dec).output().unwrap();
                assert!(
                    out.status.success(),
                    "{what}: dcmdjpeg cannot decode the pixel data: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let _ = std::fs::remove_file(&dec);
            }
            if dciodvfy {
                let out = Command::new("dciodvfy").arg(&f).output().unwrap();
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("Error")).collect();
                assert!(
                    errors.is_empty(),
                    "{what}: dciodvfy:\n{}",
                    errors.join("\n")
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

//! The attack catalog of issue 7, for real: `lab test` on the unprotected-networks pair
//! (ARP spoofing on-path, the attacker's own capture), the weak-authentication pair
//! (nmap's dicom-ping and dicom-brute from the toolbox image, C-FIND enumeration of
//! patients by an unknown AE title) and the data-manipulation pair (the proxy's rewritten
//! name and fake lesion, and TLS that leaves both alone). Beyond "the labs pass", each test reads the saved
//! evidence: what the attacker captured, what nmap printed, which patients were listed.

use std::path::{Path, PathBuf};

mod common;
use common::{check, expect_exit, lab, report, runs_dir};

/// `lab test` of these labs into a fresh runs folder; every lab must meet its checks.
/// Returns each lab's run directory, in the order given.
fn run_all(test: &str, labs: &[&str]) -> Vec<PathBuf> {
    let dir = runs_dir(&format!("attacks-{test}"));
    let labs_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../labs");
    let out = lab()
        .args(["test", "-j", "2", "--runs-dir"])
        .arg(&dir)
        .args(labs.iter().map(|l| labs_dir.join(format!("{l}.yaml"))))
        .output()
        .expect("lab binary");
    expect_exit(&out, 0);
    let runs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    labs.iter()
        .map(|l| {
            runs.iter()
                .find(|r| {
                    let name = r.file_name().unwrap().to_string_lossy();
                    name.strip_prefix(l)
                        .is_some_and(|rest| rest.len() == 5 && rest.starts_with('-'))
                })
                .unwrap_or_else(|| panic!("no run of {l} in {runs:?}"))
                .clone()
        })
        .collect()
}

fn step_result(r: &serde_json::Value, id: &str) -> serde_json::Value {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}"))["result"]
        .clone()
}

fn patient_names(capture: &Path) -> Vec<String> {
    let a = wire::analyze_file(capture).unwrap();
    let mut v: Vec<String> = a
        .phi
        .iter()
        .filter(|p| p.keyword == "PatientName")
        .map(|p| p.value.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn arp_spoofing_puts_the_flat_network_attacker_on_path_and_segmentation_stops_it() {
    let runs = run_all("networks", &["flat-network", "segmented-network"]);
    let (flat, seg) = (report(&runs[0]), report(&runs[1]));

    // Flat: the attacker's ARP replies were sent, the store went through it, and its own
    // capture (re-read here with wire, not taken from the step's word) holds the name.
    let spoof = step_result(&flat, "arp-spoof");
    assert_eq!(spoof["sent"], 10, "{spoof}");
    assert_eq!(spoof["frames"], 20, "both ways: {spoof}");
    assert_eq!(spoof["impersonate_mac_from"], "neighbour table", "{spoof}");
    assert_eq!(check(&flat, "store-ok")["outcome"], "met");
    assert_eq!(check(&flat, "on-path-phi")["finding"], true);
    for file in ["attacker.pcapng", "attacker.read-capture.pcapng"] {
        assert_eq!(
            patient_names(&runs[0].join("captures").join(file)),
            ["DOE^JANE"],
            "{file}"
        );
    }
    // Its own capture shows the modality's C-STORE (the modality is its peer, not it) and,
    // since both caches are poisoned, the PACS's answer coming back through it.
    let a = wire::analyze_file(&runs[0].join("captures/attacker.pcapng")).unwrap();
    for label in ["C-STORE-RQ", "C-STORE-RSP"] {
        assert!(
            a.events.iter().any(|e| e.label.starts_with(label)),
            "no {label} in the attacker's capture: {:?}",
            a.events.iter().map(|e| &e.label).collect::<Vec<_>>()
        );
    }

    // Segmented: the same attack, nothing reaches the attacker, the store still works.
    assert_eq!(check(&seg, "store-ok")["outcome"], "met");
    assert_eq!(check(&seg, "on-path-phi")["finding"], false);
    assert!(patient_names(&runs[1].join("captures/attacker.pcapng")).is_empty());
    let seg_capture = wire::analyze_file(&runs[1].join("captures/attacker.pcapng")).unwrap();
    assert!(
        seg_capture.events.is_empty(),
        "DICOM reached the guest segment: {:?}",
        seg_capture.events.first()
    );
    // ... while the clinical segment's own capture does show the store.
    assert_eq!(patient_names(&runs[1].join("capture.pcapng")), ["DOE^JANE"]);
}

#[test]
fn nmap_and_c_find_enumerate_an_open_pacs_and_an_allow_list_stops_both() {
    let runs = run_all("weak-auth", &["aet-any-accepted", "aet-allowlist"]);
    let (open, locked) = (report(&runs[0]), report(&runs[1]));

    let xml = |run: &Path, step: &str| {
        std::fs::read_to_string(run.join(format!("attacks/{step}.nmap.xml"))).unwrap()
    };
    // nmap's own scripts, their XML kept as evidence.
    let ping = xml(&runs[0], "nmap-dicom-ping");
    assert!(ping.contains("scanner=\"nmap\""), "{ping}");
    assert!(ping.contains("Any AET is accepted (Insecure)"), "{ping}");
    assert!(xml(&runs[0], "nmap-dicom-brute").contains("DICOM SCU allows any AET"));
    assert!(xml(&runs[1], "nmap-dicom-ping").contains("Called AET check enabled"));
    assert!(xml(&runs[1], "nmap-dicom-brute").contains("No valid accounts found"));
    for id in ["nmap-any-aet", "nmap-brute", "patients-listed"] {
        assert_eq!(check(&open, id)["finding"], true, "{id}");
        assert_eq!(check(&locked, id)["finding"], false, "{id}");
    }

    // The unknown AE title listed the patient the modality stored...
    let found = step_result(&open, "list-patients");
    assert_eq!(found["count"], 1, "{found}");
    assert_eq!(found["matches"][0]["PatientName"], "DOE^JANE");
    assert_eq!(found["matches"][0]["PatientID"], "DR-0001");
    // ... and was refused by name at the allow-list, where the modality still stores.
    let refused = step_result(&locked, "list-patients");
    assert_eq!(refused["count"], 0, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("calling AE title not recognized"),
        "{refused}"
    );
    assert_eq!(check(&locked, "store-ok")["outcome"], "met");
}

/// The first stored instance as the run saved it: its tags.json entry and its file.
fn stored(run: &Path) -> (serde_json::Value, dicom_object::DefaultDicomObject) {
    let dir = run.join("pacs/pacs");
    let tags: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tags.json")).unwrap()).unwrap();
    let entry = tags[0].clone();
    let id = entry["id"].as_str().unwrap();
    let file = dicom_object::open_file(dir.join(format!("instances/{id}.dcm"))).unwrap();
    (entry, file)
}

/// SHA-256 of the first JPEG fragment, as the engine and lab-agent fingerprint images.
fn first_fragment_sha256(obj: &dicom_object::InMemDicomObject) -> String {
    use sha2::Digest;
    let pixel = obj.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap();
    let fragment = &pixel.fragments().expect("encapsulated pixel data")[0];
    sha2::Sha256::digest(fragment)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The data set of a file Wireshark exported: read after its file meta group, whose UIDs
/// dicom-object finds malformed in Wireshark's writing (dcmdump reads it).
fn exported_data_set(path: &Path) -> dicom_object::InMemDicomObject {
    use dicom_encoding::TransferSyntaxIndex;
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[128..132], b"DICM", "{}", path.display());
    // (0002,0000) UL, explicit VR: tag, VR, 2-byte length, then the group's length.
    let group_len = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    let explicit_le = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get("1.2.840.10008.1.2.1")
        .unwrap();
    dicom_object::InMemDicomObject::read_dataset_with_ts(&bytes[144 + group_len..], explicit_le)
        .unwrap()
}

#[test]
fn the_proxy_fakes_a_lesion_in_a_plain_store_and_tls_keeps_the_image_whole() {
    let runs = run_all("tamper", &["proxy-tamper", "tls-tamper-proof"]);
    let (plain, tls) = (report(&runs[0]), report(&runs[1]));
    let sent = |r: &serde_json::Value| {
        step_result(r, "step-1")["instances"][0]["pixel_sha256"]
            .as_str()
            .expect("the modality reports the image it sent")
            .to_string()
    };

    // Plain: the proxy says it painted a lesion into the JPEG frame; the PACS holds another
    // image and another name than the modality sent, and the saved file is that image.
    let (entry, file) = stored(&runs[0]);
    assert_eq!(entry["PatientName"], "ATTACKER^EVE");
    assert_ne!(entry["FirstFrameSha256"].as_str().unwrap(), sent(&plain));
    assert_eq!(
        entry["FirstFrameSha256"].as_str().unwrap(),
        first_fragment_sha256(&file)
    );
    let name = file
        .element(dicom_dictionary_std::tags::PATIENT_NAME)
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(name.trim(), "ATTACKER^EVE");
    let altered = check(&plain, "data-altered");
    assert_eq!(altered["finding"], true);
    assert!(
        altered["observed"]
            .as_str()
            .unwrap()
            .contains("(1 PatientName, 1 image)"),
        "{altered}"
    );
    let proxy = check(&plain, "proxy-rewrote");
    assert!(
        proxy["observed"]
            .as_str()
            .unwrap()
            .contains("lesions: 1 item(s)"),
        "{proxy}"
    );
    assert!(
        proxy["details"][0]
            .as_str()
            .unwrap()
            .contains("\"encoding\":\"jpeg-baseline\""),
        "{proxy}"
    );

    // The page shows the archived image (a PNG preview of the kept file).
    let page = std::fs::read_to_string(runs[0].join("report.html")).unwrap();
    assert!(
        page.contains("Images the PACS holds") && page.contains("src=\"data:image/png;base64,"),
        "no preview of the stored image in report.html"
    );

    // Wireshark's own DICOM export takes both images out of the capture: the one sent (the
    // modality's fingerprint) and the one the PACS got (the stored fingerprint).
    let export = runs_dir("attacks-tamper-export");
    let st = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(runs[0].join("capture.pcapng"))
        .args(["-d", "tcp.port==4242,dicom", "--export-objects"])
        .arg(format!("dicom,{}", export.display()))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("tshark (scripts/install-prereqs.sh installs it)");
    assert!(st.success());
    let mut seen: Vec<(String, String)> = std::fs::read_dir(&export)
        .unwrap()
        .map(|e| {
            let obj = exported_data_set(&e.unwrap().path());
            let name = obj
                .element(dicom_dictionary_std::tags::PATIENT_NAME)
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_string();
            (name, first_fragment_sha256(&obj))
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "ATTACKER^EVE".to_string(),
                entry["FirstFrameSha256"].as_str().unwrap().to_string()
            ),
            ("DOE^JANE".to_string(), sent(&plain)),
        ]
    );

    // TLS: the same proxy, but the PACS holds exactly the image and name sent.
    let (entry, file) = stored(&runs[1]);
    assert_eq!(entry["PatientName"], "DOE^JANE");
    assert_eq!(entry["FirstFrameSha256"].as_str().unwrap(), sent(&tls));
    assert_eq!(first_fragment_sha256(&file), sent(&tls));
    assert_eq!(check(&tls, "data-altered")["finding"], false);
}

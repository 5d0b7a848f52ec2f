//! A runs folder whose disk fills up, on the real daemon: a tmpfs of a few MiB mounted for
//! the test (root can write through any mode bits, so a read-only folder proves nothing;
//! a full file system really fails with ENOSPC). A run whose reports cannot be written
//! still tears its lab down and exits 2 naming the file; `lab gc` leaves a run it cannot
//! save in place, and removes it once the space is back.

mod common;

use common::*;

#[test]
fn a_full_disk_still_tears_the_lab_down_and_names_the_report_file() {
    let fs = Tmpfs::mount("disk-full", "16m");
    let dir = fs.path.clone();
    let (lab_run, id) = run_until("plaintext-store", &dir, "==> step 1 (");
    fs.fill();
    let (code, out, err) = lab_run.finish();
    let stdout = String::from_utf8_lossy(&out);
    eprintln!("stdout:\n{stdout}\nstderr:\n{err}");
    assert_eq!(code, Some(2), "{stdout}\n{err}");
    // Nothing of the run is left up, whatever could not be written.
    assert_eq!(leftovers(&id), "", "the lab was left up");
    let said = format!("{stdout}{err}");
    let report_file = dir.join(&id).join("report.json");
    assert!(
        said.contains(&format!(
            "{}: No space left on device",
            report_file.display()
        )),
        "the error does not name {}:\n{said}",
        report_file.display()
    );
    assert!(said.contains("torn down"), "{said}");
    // No half-written file: the reports are absent, not truncated.
    let left = files_under(&dir.join(&id));
    eprintln!("left in the run directory: {left:?}");
    assert!(!left.iter().any(|f| f.contains(".tmp-")), "{left:?}");
    for f in left.iter().filter(|f| f.ends_with(".json")) {
        let bytes = std::fs::read(dir.join(&id).join(f)).unwrap();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
            "{f} was left half-written ({} bytes)",
            bytes.len()
        );
    }
    assert!(!left.contains(&"report.json".to_string()), "{left:?}");
    assert!(left.contains(&"scenario.yaml".to_string()), "{left:?}");
}

/// `lab` killed, then `lab gc` on a full disk: saving the run's evidence fails, so the run
/// is left up (exit 2, saying why and how to fix it) rather than removed with its evidence
/// lost. Once the space is back, `gc` saves it and removes it.
#[test]
fn gc_keeps_a_run_it_cannot_save_and_removes_it_once_it_can() {
    let fs = Tmpfs::mount("gc-full", "16m");
    let dir = fs.path.clone();
    let (lab_run, id) = run_until("plaintext-store", &dir, "==> step 1 (");
    lab_run.signal("KILL");
    let (code, _, _) = lab_run.finish();
    assert_eq!(code, None, "killed by a signal");
    assert_ne!(leftovers(&id), "", "nothing to collect?");

    let filler = fs.fill();
    let gc = lab_in(&dir, &["gc"]);
    let said = expect_exit(&gc, 2);
    eprintln!("gc on a full disk:\n{said}");
    assert!(said.contains(&format!("left {id} in place")), "{said}");
    assert!(said.contains("No space left on device"), "{said}");
    assert!(said.contains("fix:"), "{said}");
    assert_ne!(leftovers(&id), "", "removed with its evidence unsaved");

    std::fs::remove_file(&filler).unwrap();
    let gc = lab_in(&dir, &["gc"]);
    let said = expect_exit(&gc, 0);
    assert!(said.contains(&format!("removed {id}")), "{said}");
    assert_eq!(leftovers(&id), "");
    let run = dir.join(&id);
    let r = report(&run);
    assert_eq!(r["verdict"], "error", "{r}");
    assert!(
        r["error"].as_str().unwrap_or_default().contains("lab gc"),
        "{r}"
    );
    for f in ["capture.pcapng", "logs/pacs.log", "SHA256SUMS"] {
        assert!(run.join(f).is_file(), "{f} not saved by the second gc");
    }
}

//! `lab images prune` on the real daemon: an image of an old recipe goes, current ones stay.

mod common;

use std::process::{Command, Stdio};

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI")
}

#[test]
fn prune_removes_an_old_recipe_and_keeps_current_images() {
    let stale = "dicom-range/agent:stale-prune-test";
    // An empty image with a recipe label, as an older lab-agent build would have left.
    let mut import = Command::new("docker")
        .args([
            "import",
            "-c",
            "LABEL dicom-range.recipe=000000000000",
            "-",
            stale,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut tar = tar::Builder::new(import.stdin.take().unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "empty", std::io::empty()).unwrap();
        tar.into_inner().unwrap().flush().unwrap();
    }
    assert!(import.wait().unwrap().success());
    let current = "dicom-range/orthanc:1.10.1";
    let had_current = docker(&["image", "inspect", current]).status.success();

    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["images", "prune"])
        .output()
        .unwrap();
    let stdout = common::expect_exit(&out, 0);
    assert!(stdout.contains(&format!("removed {stale}")), "{stdout}");
    assert!(!docker(&["image", "inspect", stale]).status.success());
    assert!(!stdout.contains(&format!("removed {current}")), "{stdout}");
    assert_eq!(
        docker(&["image", "inspect", current]).status.success(),
        had_current
    );
}

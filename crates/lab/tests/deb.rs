//! The .deb of scripts/build-deb.sh (cargo-deb over the binaries this test suite runs, no
//! second build): what it holds (`dpkg-deb -c`), and, where installing is allowed (CI=true
//! or LAB_TEST_DEB=1: a throwaway machine), that the installed files alone run a lab. The
//! installed `lab` runs from an empty folder, with no variable pointing at the checkout:
//! it must find its labs in /usr/share/dicom-range/labs and `lab-agent` in /usr/bin.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::*;

const PACKAGE: &str = "dicom-range";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Builds the .deb from the debug binaries; `None` (with a note) when cargo-deb is not
/// installed outside CI. Under CI=true a missing cargo-deb fails with the install hint.
fn build_deb() -> Option<PathBuf> {
    let has_cargo_deb = Command::new("cargo-deb")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_deb {
        let hint = "cargo-deb is missing: cargo install cargo-deb --locked (scripts/install-prereqs.sh installs it)";
        assert!(!ci(), "{hint}");
        eprintln!("note: {hint}; the .deb test is not run");
        return None;
    }
    // The binaries this suite runs, which the script packages as they are.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_lab")).parent().unwrap();
    assert!(
        bin_dir.join("lab-agent").is_file(),
        "no lab-agent beside {}: cargo build --workspace first",
        env!("CARGO_BIN_EXE_lab")
    );
    let out = Command::new("bash")
        .arg(root().join("scripts/build-deb.sh"))
        .args(["--profile", "dev", "--no-build"])
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = expect_exit(&out, 0);
    let deb = PathBuf::from(stdout.lines().last().expect("the .deb's path").trim());
    let deb = if deb.is_absolute() {
        deb
    } else {
        root().join(deb)
    };
    assert!(
        deb.is_file() && deb.extension().is_some_and(|e| e == "deb"),
        "{stdout}"
    );
    Some(deb)
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    expect_exit(&out, 0)
}

/// The agent image tags on the daemon (the installed, stripped lab-agent makes its own).
/// Never panics: it also runs in a `Drop` while a failed test unwinds.
fn agent_tags() -> Vec<String> {
    Command::new("docker")
        .args(["images", "dicom-range/agent", "--format", "{{.Tag}}"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the package, and the agent image its lab-agent needed, when the test ends,
/// passed or not.
struct Installed {
    agent_tags_before: Vec<String>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-r", PACKAGE]).output();
        for tag in agent_tags() {
            if !self.agent_tags_before.contains(&tag) {
                let _ = Command::new("docker")
                    .args(["rmi", &format!("dicom-range/agent:{tag}")])
                    .output();
            }
        }
    }
}

#[test]
fn the_deb_holds_both_programs_the_catalog_docs_completions_and_man_pages() {
    let t0 = Instant::now();
    let Some(deb) = build_deb() else { return };
    eprintln!(
        "built {} in {:.1} s",
        deb.display(),
        t0.elapsed().as_secs_f64()
    );

    let listing = run_ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let mut expected = vec![
        "./usr/bin/lab".to_string(),
        "./usr/bin/lab-agent".into(),
        "./usr/share/doc/dicom-range/README.md".into(),
        "./usr/share/doc/dicom-range/architecture.md".into(),
        "./usr/share/doc/dicom-range/scenario.schema.json".into(),
        "./usr/share/bash-completion/completions/lab".into(),
        "./usr/share/zsh/vendor-completions/_lab".into(),
        "./usr/share/fish/vendor_completions.d/lab.fish".into(),
        "./usr/share/man/man1/lab.1.gz".into(),
        "./usr/share/man/man1/lab-run.1.gz".into(),
        "./usr/share/man/man1/lab-explain.1.gz".into(),
    ];
    for dir in ["labs", "labs/exercises"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                expected.push(format!("./usr/share/dicom-range/{dir}/{name}"));
            }
        }
    }
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|e| !paths.contains(&e.as_str()))
        .collect();
    assert!(missing.is_empty(), "missing {missing:?} in:\n{listing}");
    let exec = |p: &str| {
        listing
            .lines()
            .any(|l| l.ends_with(&format!(" {p}")) && l.starts_with("-rwxr-xr-x"))
    };
    assert!(
        exec("./usr/bin/lab") && exec("./usr/bin/lab-agent"),
        "{listing}"
    );

    let control = run_ok(Command::new("dpkg-deb").args(["-f"]).arg(&deb));
    assert!(control.contains("Package: dicom-range"), "{control}");
    // apt must not pull a Docker in beside the one the host runs.
    let depends = control
        .lines()
        .find(|l| l.starts_with("Depends:"))
        .unwrap_or_default();
    assert!(
        depends.contains("libpcap0.8") && !depends.contains("docker"),
        "{control}"
    );

    if !(ci() || std::env::var("LAB_TEST_DEB").as_deref() == Ok("1")) {
        eprintln!("note: not installing the .deb (set LAB_TEST_DEB=1 or CI=true to)");
        return;
    }
    install_and_run(&deb);
    eprintln!(
        "built, installed, ran plaintext-store and removed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

fn install_and_run(deb: &Path) {
    let t0 = Instant::now();
    let _installed = Installed {
        agent_tags_before: agent_tags(),
    };
    run_ok(Command::new("dpkg").arg("-i").arg(deb));
    eprintln!("installed in {:.1} s", t0.elapsed().as_secs_f64());
    assert!(Path::new("/usr/share/dicom-range/labs/plaintext-store.yaml").is_file());

    let empty = runs_dir("deb-installed");
    // Nothing of the checkout reaches the installed `lab`: no variables, no ./labs.
    let installed = |args: &[&str]| {
        let mut c = Command::new("/usr/bin/lab");
        c.args(args)
            .current_dir(&empty)
            .env_remove("LAB_LABS_DIR")
            .env_remove("LAB_RUNS_DIR")
            .env_remove("LAB_AGENT_BIN");
        c
    };
    let list = run_ok(&mut installed(&["list", "--json"]));
    let first: serde_json::Value = serde_json::from_str(list.lines().next().unwrap()).unwrap();
    assert!(
        first["file"]
            .as_str()
            .unwrap()
            .starts_with("/usr/share/dicom-range/labs/"),
        "the installed lab reads another catalog: {list}"
    );

    let t1 = Instant::now();
    run_ok(&mut installed(&["run", "plaintext-store", "-q"]));
    eprintln!(
        "installed lab run plaintext-store took {:.1} s",
        t1.elapsed().as_secs_f64()
    );
    let run = only_run(&empty.join("runs"));
    for f in ["capture.pcapng", "report.json"] {
        assert!(run.join(f).is_file(), "no {f} in {}", run.display());
    }
    assert_eq!(report(&run)["verdict"], "pass", "{}", run.display());
    assert_eq!(leftovers_of_runs_dir(&empty.join("runs")), "");
}

//! The instructor's workflow end to end, on the real daemon: `lab pack` a roster, hand in
//! files (the reference solution, the untouched handout, broken and cheating ones), `lab
//! grade` them with the hidden checks, and read the CSV and JUnit scores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;
use common::{
    Running, expect_exit, lab, leftovers, leftovers_of_runs_dir, runs_dir, wait_in_flight,
};

/// Runs `lab` and asserts its exit code; returns stdout.
fn run_lab(cmd: &mut std::process::Command, code: i32) -> String {
    expect_exit(&cmd.output().expect("lab runs"), code)
}

fn labs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../labs")
}

fn exercise_path(name: &str) -> PathBuf {
    labs_dir().join("exercises").join(format!("{name}.yaml"))
}

/// Packs `students` for `exercise` into `dir/handout`; returns each student's file text.
fn pack(exercise: &str, dir: &Path, students: &[&str]) -> BTreeMap<String, String> {
    let roster = dir.join("roster.csv");
    let mut csv = String::from("id,name\n");
    for s in students {
        csv.push_str(&format!("{s},Student {s}\n"));
    }
    std::fs::write(&roster, csv).unwrap();
    let handout = dir.join("handout");
    run_lab(
        lab()
            .args(["pack", exercise, "--students"])
            .arg(&roster)
            .arg("--out")
            .arg(&handout),
        0,
    );
    students
        .iter()
        .map(|s| {
            let text = std::fs::read_to_string(handout.join(format!("{s}.yaml"))).unwrap();
            (s.to_string(), text)
        })
        .collect()
}

/// The reference solution applied to a student's handout: a perfect submission.
fn solved(exercise: &str, handout: &str) -> String {
    let path = exercise_path(exercise);
    let instructor = std::fs::read_to_string(&path).unwrap();
    scenario::exercise::apply_solution(handout, &path.display().to_string(), &instructor).unwrap()
}

fn grades(csv_path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let row: BTreeMap<String, String> = headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (row["student"].clone(), row)
        })
        .collect()
}

#[test]
fn packed_files_differ_per_student_and_keep_no_instructor_secret() {
    let dir = runs_dir("pack");
    let files = pack("lock-down-ae-titles", &dir, &["s001", "s002"]);
    let instructor = std::fs::read_to_string(exercise_path("lock-down-ae-titles")).unwrap();
    for (student, text) in &files {
        for secret in [
            "seed:",
            "solution:",
            "hidden: true",
            "instructors keep this secret",
        ] {
            assert!(
                !text.contains(secret),
                "{student}'s file holds `{secret}`:\n{text}"
            );
        }
        assert!(text.contains(&format!("student: \"{student}\"")), "{text}");
        // The instructor's comments and layout survive packing.
        assert!(text.contains("# Exercise for instructors: each student's modality"));
        assert!(instructor.contains("hidden: true"));
    }
    let aet = |t: &str| {
        scenario::parse_str("f", t, &BTreeMap::new())
            .unwrap()
            .params["modality_aet"]
            .clone()
    };
    assert_ne!(aet(&files["s001"]), aet(&files["s002"]));
    // Reproducible: packing again gives the same files.
    let again = pack(
        "lock-down-ae-titles",
        &runs_dir("pack-again"),
        &["s001", "s002"],
    );
    assert_eq!(files, again);
    // A student runs the public checks of the untouched handout: the clinical store works
    // (the only public check); the scan, graded by a hidden check, is not shown.
    let handout = dir.join("handout/s001.yaml");
    let out = run_lab(
        lab()
            .arg("check")
            .arg(&handout)
            .arg("--runs-dir")
            .arg(dir.join("runs")),
        0,
    );
    assert!(out.contains("1/1 public checks met"), "{out}");
    assert!(!out.contains("scan-refused"), "{out}");
    assert!(out.contains("more checks, kept hidden"), "{out}");
}

/// Each handout's schema modeline names a file that exists relative to the handout (where
/// the student's editor resolves it), and that file is the lab file schema `lab schema`
/// prints.
#[test]
fn a_handout_names_the_schema_written_beside_it() {
    let dir = runs_dir("pack-schema");
    let files = pack("turn-on-dicom-tls", &dir, &["s001", "s002"]);
    let schema_out = run_lab(lab().arg("schema"), 0);
    let expected: serde_json::Value = serde_json::from_str(&schema_out).unwrap();
    let handouts = dir.join("handout");
    for (student, text) in &files {
        let modelines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("# yaml-language-server:"))
            .collect();
        assert_eq!(modelines.len(), 1, "{student}:\n{text}");
        let target = modelines[0]
            .split_once("$schema=")
            .map(|(_, t)| t.trim())
            .unwrap_or_else(|| panic!("no $schema= in {}", modelines[0]));
        let path = handouts.join(target);
        let json = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{student}'s $schema={target}: {}: {e}", path.display()));
        let schema: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(
            schema, expected,
            "the schema beside the handouts is not `lab schema`'s"
        );
    }
}

/// One test per exercise of labs/exercises (`every_exercise_has_its_grading_test` keeps
/// the list whole), so that nextest grades them side by side.
macro_rules! graded_full_and_failing {
    ($($test:ident => $exercise:literal,)+) => {
        $(
            #[test]
            fn $test() {
                solution_full_and_handout_failing($exercise);
            }
        )+
        const GRADED: &[&str] = &[$($exercise),+];
    };
}

graded_full_and_failing! {
    turn_on_dicom_tls_grades_full_and_failing => "turn-on-dicom-tls",
    lock_down_ae_titles_grades_full_and_failing => "lock-down-ae-titles",
    enable_rest_auth_grades_full_and_failing => "enable-rest-auth",
    patch_the_pacs_grades_full_and_failing => "patch-the-pacs",
    tls_against_tampering_grades_full_and_failing => "tls-against-tampering",
    segment_the_network_grades_full_and_failing => "segment-the-network",
    write_ids_rules_grades_full_and_failing => "write-ids-rules",
    turn_on_audit_trail_grades_full_and_failing => "turn-on-audit-trail",
    harden_the_pacs_grades_full_and_failing => "harden-the-pacs",
}

#[test]
fn every_exercise_has_its_grading_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(labs_dir().join("exercises"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = GRADED.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(
        on_disk, tested,
        "add the new exercise to graded_full_and_failing!"
    );
    // One exercise per threat of the catalog (docs/threats.md).
    let threats: std::collections::BTreeSet<String> = GRADED
        .iter()
        .map(|e| {
            scenario::load(&exercise_path(e), &BTreeMap::new())
                .unwrap()
                .metadata
                .threat
        })
        .collect();
    assert_eq!(threats.len(), 9, "{threats:?}");
}

/// Packs `exercise` for two students, hands in the reference solution for `alice` and the
/// untouched handout for `bob`, grades both; returns the grades by student.
fn grade_pair(
    exercise: &str,
    alice_from: impl Fn(&str) -> String,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let dir = runs_dir(exercise);
    let files = pack(exercise, &dir, &["alice", "bob"]);
    let back = dir.join("submissions");
    std::fs::create_dir_all(&back).unwrap();
    std::fs::write(back.join("alice.yaml"), alice_from(&files["alice"])).unwrap();
    std::fs::write(back.join("bob.yaml"), &files["bob"]).unwrap();
    let csv = dir.join("grades.csv");
    let junit = dir.join("grades.xml");
    run_lab(
        lab()
            .args(["grade", exercise])
            .arg(&back)
            .arg("--csv")
            .arg(&csv)
            .arg("--junit")
            .arg(&junit)
            .arg("--runs-dir")
            .arg(dir.join("runs"))
            .args(["-j", "2"]),
        1,
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|n| n.attribute("name").unwrap().to_string())
        .collect();
    assert_eq!(suites, ["alice", "bob"]);
    grades(&csv)
}

fn solution_full_and_handout_failing(exercise: &str) {
    let g = grade_pair(exercise, |handout| solved(exercise, handout));
    let (alice, bob) = (&g["alice"], &g["bob"]);
    assert_eq!(alice["score"], alice["max"], "{exercise}: {alice:?}");
    assert_eq!(alice["error"], "", "{exercise}: {alice:?}");
    let bob_score: u32 = bob["score"].parse().unwrap();
    let max: u32 = bob["max"].parse().unwrap();
    assert!(
        bob_score < max,
        "{exercise}: the untouched handout scored {bob:?}"
    );
    // A hidden check counts in the grade although the student never saw it.
    let instructor = scenario::load(&exercise_path(exercise), &BTreeMap::new()).unwrap();
    let hidden = instructor.checks.iter().find(|c| c.hidden).unwrap();
    assert_eq!(bob[&hidden.id], "0", "{exercise}: {bob:?}");
    assert_eq!(alice[&hidden.id], hidden.points.to_string());
}

#[test]
fn ids_rules_that_also_alert_on_the_modality_lose_the_false_alert_points() {
    let exercise = "write-ids-rules";
    // Every attack caught, and the PHI rule on too: the modality's clear store alarms.
    let g = grade_pair(exercise, |handout| {
        solved(exercise, handout).replace(
            "\"pe-preamble\": 1",
            "\"pe-preamble\": 1,\n \"phi-in-clear\": 1",
        )
    });
    let alice = &g["alice"];
    let instructor = scenario::load(&exercise_path(exercise), &BTreeMap::new()).unwrap();
    let points = |id: &str| {
        instructor
            .checks
            .iter()
            .find(|c| c.id == id)
            .unwrap()
            .points
            .to_string()
    };
    assert_eq!(alice["no-false-alerts"], "0", "{alice:?}");
    for caught in ["brute-force-alert", "flood-alert", "polyglot-alert"] {
        assert_eq!(alice[caught], points(caught), "{caught}: {alice:?}");
    }
    let (score, max): (u32, u32) = (
        alice["score"].parse().unwrap(),
        alice["max"].parse().unwrap(),
    );
    assert_eq!(score + 3, max, "{alice:?}");
}

#[test]
fn bad_and_cheating_submissions_get_their_own_row_and_the_rest_is_graded() {
    let exercise = "turn-on-dicom-tls";
    let dir = runs_dir("robust");
    let files = pack(exercise, &dir, &["ann", "ben", "cat", "dan", "eve"]);
    let back = dir.join("submissions");
    std::fs::create_dir_all(&back).unwrap();
    // ann: the reference solution.
    std::fs::write(back.join("ann.yaml"), solved(exercise, &files["ann"])).unwrap();
    // ben: not YAML at all.
    std::fs::write(back.join("ben.yaml"), "nodes: [unclosed\n  - {").unwrap();
    // cat: an absurd size.
    std::fs::write(back.join("cat.yaml"), "#".repeat(2 * 1024 * 1024)).unwrap();
    // dan: solves it, but also deletes the attack, rewrites a check to pass anyway and
    // asks for another Orthanc: none of it is used.
    let cheat = solved(exercise, &files["dan"])
        .replace("\"version\": \"1.10.1\"", "\"version\": \"1.12.7\"")
        .replace("\"equals\": 1", "\"equals\": 0");
    let mut v: serde_json::Value = serde_json::from_str(&cheat).unwrap();
    v["steps"].as_array_mut().unwrap().pop();
    std::fs::write(
        back.join("dan.yaml"),
        serde_json::to_string_pretty(&v).unwrap(),
    )
    .unwrap();
    // zed hands in ann's file under his own name.
    std::fs::copy(back.join("ann.yaml"), back.join("zed.yaml")).unwrap();
    // eve hands in nothing.
    let roster = dir.join("roster.csv");
    let csv = dir.join("grades.csv");
    let out = run_lab(
        lab()
            .args(["grade", exercise])
            .arg(&back)
            .arg("--students")
            .arg(&roster)
            .arg("--csv")
            .arg(&csv)
            .arg("--runs-dir")
            .arg(dir.join("runs")),
        1,
    );
    let g = grades(&csv);
    assert_eq!(g.len(), 5, "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains("the file is named zed but says it is student ann"),
        "{text}"
    );
    assert_eq!(
        text.matches("2 files were handed in for this student")
            .count(),
        2,
        "{text}"
    );
    assert_eq!(g["ann"]["score"], g["ann"]["max"], "{:?}", g["ann"]);
    assert!(g["ben"]["error"].contains("ben.yaml"), "{:?}", g["ben"]);
    assert!(g["ben"]["error"].contains("ben.yaml:1:"), "{:?}", g["ben"]);
    assert!(g["cat"]["error"].contains("at most"), "{:?}", g["cat"]);
    assert_eq!(g["eve"]["error"], "nothing handed in");
    assert_eq!(g["eve"]["score"], "0");
    let dan = &g["dan"];
    assert_eq!(dan["score"], dan["max"], "{dan:?}");
    for part in ["steps", "checks", "nodes.pacs.version"] {
        assert!(dan["ignored"].contains(part), "{dan:?}");
    }
    // Dan's run used the instructor's lab: the attacker's probe did run.
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(&dan["run_dir"]).join("report.json")).unwrap(),
    )
    .unwrap();
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "plaintext-probe"),
        "{report}"
    );
}

/// A submission's file name is the student's text, and it reaches the instructor's
/// spreadsheet: a file named like a formula lands there as a name (its cells start with
/// `'`), never as a formula.
#[test]
fn a_submission_named_like_a_formula_lands_in_the_csv_as_text() {
    let dir = runs_dir("formula");
    let back = dir.join("submissions");
    std::fs::create_dir_all(&back).unwrap();
    std::fs::write(back.join("=HYPERLINK(1).yaml"), "nodes: [unclosed\n").unwrap();
    let csv = dir.join("grades.csv");
    run_lab(
        lab()
            .args(["grade", "turn-on-dicom-tls"])
            .arg(&back)
            .arg("--csv")
            .arg(&csv)
            .arg("--runs-dir")
            .arg(dir.join("runs")),
        2,
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let g = grades(&csv);
    assert!(g.contains_key("'=HYPERLINK(1)"), "{text}");
    let mut r = csv::Reader::from_path(&csv).unwrap();
    for rec in r.records() {
        for cell in rec.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in\n{text}"
            );
        }
    }
}

/// Ctrl-C during `lab grade -j 2` of four submissions: the two runs in flight save their
/// evidence and tear down, the two queued are never run, and the CSV and JUnit still have
/// a row for every student (those not run say so); exit 2, nothing left.
#[test]
fn sigint_during_grading_writes_partial_scores_for_every_student() {
    let exercise = "lock-down-ae-titles";
    let dir = runs_dir("grade-sigint");
    let students = ["s1", "s2", "s3", "s4"];
    let files = pack(exercise, &dir, &students);
    let back = dir.join("submissions");
    std::fs::create_dir_all(&back).unwrap();
    for (s, text) in &files {
        std::fs::write(back.join(format!("{s}.yaml")), text).unwrap();
    }
    let (csv, junit, runs) = (
        dir.join("grades.csv"),
        dir.join("grades.xml"),
        dir.join("runs"),
    );
    let grading = Running::spawn(
        lab()
            .args(["grade", exercise])
            .arg(&back)
            .args(["-j", "2", "--csv"])
            .arg(&csv)
            .arg("--junit")
            .arg(&junit)
            .arg("--runs-dir")
            .arg(&runs),
    );
    let in_flight = wait_in_flight(&runs, 2, 180);
    grading.signal("INT");
    let (code, out, err) = grading.finish();
    let stdout = String::from_utf8_lossy(&out);
    assert_eq!(code, Some(2), "{stdout}\n{err}");
    assert!(
        stdout.contains("interrupted by SIGINT (Ctrl-C): 2 of 4 submission(s) graded"),
        "{stdout}"
    );
    let g = grades(&csv);
    assert_eq!(g.len(), 4, "{g:?}");
    let not_run: Vec<&String> = g
        .iter()
        .filter(|(_, r)| {
            r["error"].contains("not run: interrupted by SIGINT (Ctrl-C) before it started")
        })
        .map(|(s, _)| s)
        .collect();
    assert_eq!(not_run.len(), 2, "{g:?}");
    let interrupted = g
        .values()
        .filter(|r| r["error"].contains("interrupted by SIGINT (Ctrl-C) while "))
        .count();
    assert_eq!(interrupted, 2, "{g:?}");
    let xml = std::fs::read_to_string(&junit).expect("grades.xml written");
    roxmltree::Document::parse(&xml).unwrap();
    for s in students {
        assert!(
            xml.contains(&format!("name=\"{s}\"")),
            "{s} missing:\n{xml}"
        );
    }
    for id in &in_flight {
        assert_eq!(leftovers(id), "", "{id} left up");
    }
    for s in students {
        let scope = runs.join(format!("grade-{exercise}")).join(s);
        assert_eq!(leftovers_of_runs_dir(&scope), "", "{s}'s runs left up");
    }
}

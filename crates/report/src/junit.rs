//! JUnit XML: what CI systems (GitLab, Jenkins, GitHub test reporters) show as tests.
//!
//! One `<testsuite>` per lab run (name = lab, id = run id), one `<testcase>` per check
//! (classname = lab, name = check id). A check not met is a `<failure>` whose message
//! says what was expected and what was seen; a check that could not be evaluated is an
//! `<error>`. A run that failed as a whole (`report.error`) adds a testcase `(run)` with
//! an `<error>`, so that CI never shows it green. Valid against Jenkins' `junit-10.xsd`.

use std::fmt::Write as _;

use checks::{CheckResult, Outcome};

use crate::escape::xml;
use crate::{RunReport, Verdict};

/// Most detail lines copied into a testcase's `<system-out>`.
const MAX_DETAILS: usize = 200;

/// The name of the extra testcase that carries a run-level error.
pub const RUN_TESTCASE: &str = "(run)";

/// JUnit XML for one or more runs (`<testsuites>` with a `<testsuite>` per run).
pub fn junit(reports: &[RunReport]) -> String {
    let mut tests = 0;
    let mut failures = 0;
    let mut errors = 0;
    let mut time = 0.0;
    let mut suites = String::new();
    for r in reports {
        let (t, f, e) = counts(r);
        tests += t;
        failures += f;
        errors += e;
        time += r.duration_s.max(0.0);
        suite(&mut suites, r, t, f, e);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"dicom-range\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">",
        secs(time)
    );
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

/// (tests, failures, errors) of one run, the `(run)` testcase included.
fn counts(r: &RunReport) -> (usize, usize, usize) {
    let run_error = run_error(r).is_some() as usize;
    let failures = r
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::NotMet)
        .count();
    let errors = r
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Error)
        .count();
    (r.checks.len() + run_error, failures, errors + run_error)
}

/// Why the run as a whole is in error, when it is: its recorded error, or an error
/// verdict with no check to carry it.
fn run_error(r: &RunReport) -> Option<String> {
    match &r.error {
        Some(e) => Some(e.clone()),
        None if r.verdict == Verdict::Error
            && !r.checks.iter().any(|c| c.outcome == Outcome::Error) =>
        {
            Some("the run ended in error".into())
        }
        None => None,
    }
}

/// Seconds in the `SUREFIRE_TIME` form (digits, at most three decimals).
fn secs(s: f64) -> String {
    if s.is_finite() && s > 0.0 {
        format!("{s:.3}")
    } else {
        "0.000".into()
    }
}

fn suite(out: &mut String, r: &RunReport, tests: usize, failures: usize, errors: usize) {
    let lab = xml(&r.lab, true);
    let _ = write!(
        out,
        "  <testsuite name=\"{lab}\" id=\"{}\" package=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{}\"",
        xml(&r.run_id, true),
        xml(&r.threat, true),
        secs(r.duration_s)
    );
    if !r.started_at.is_empty() {
        let _ = write!(out, " timestamp=\"{}\"", xml(&r.started_at, true));
    }
    out.push_str(">\n    <properties>\n");
    let verdict = match r.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
    };
    for (name, value) in [
        ("run_id", r.run_id.as_str()),
        ("title", r.title.as_str()),
        ("threat", r.threat.as_str()),
        ("variant", r.variant.as_str()),
        ("mitre", &r.mitre.join(",")),
        ("verdict", verdict),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            xml(value, true)
        );
    }
    out.push_str("    </properties>\n");
    for c in &r.checks {
        case(out, &lab, c);
    }
    if let Some(e) = run_error(r) {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{lab}\" name=\"{RUN_TESTCASE}\">\n      <error type=\"run\" message=\"{}\">{}</error>\n    </testcase>",
            xml(&format!("the lab could not be run or graded: {e}"), true),
            xml(&steps_text(r), false)
        );
    }
    out.push_str("  </testsuite>\n");
}

fn case(out: &mut String, lab: &str, c: &CheckResult) {
    let _ = write!(
        out,
        "    <testcase classname=\"{lab}\" name=\"{}\"",
        xml(&c.id, true)
    );
    let body = details_text(c);
    match c.outcome {
        Outcome::Met => {
            let _ = writeln!(
                out,
                ">\n      <system-out>{}</system-out>",
                xml(&body, false)
            );
        }
        Outcome::NotMet => {
            let message = format!("expected {}; observed {}", c.expected, c.observed);
            let _ = writeln!(
                out,
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>",
                xml(&c.kind, true),
                xml(&message, true),
                xml(&body, false)
            );
        }
        Outcome::Error => {
            let message = format!(
                "could not be evaluated: {} (expected {})",
                c.observed, c.expected
            );
            let _ = writeln!(
                out,
                ">\n      <error type=\"{}\" message=\"{}\">{}</error>",
                xml(&c.kind, true),
                xml(&message, true),
                xml(&body, false)
            );
        }
    }
    out.push_str("    </testcase>\n");
}

fn details_text(c: &CheckResult) -> String {
    let mut s = String::new();
    if let Some(d) = &c.description {
        let _ = writeln!(s, "{d}");
    }
    let _ = writeln!(s, "kind:     {}", c.kind);
    if let Some(m) = &c.mitre {
        let _ = writeln!(s, "mitre:    {m}");
    }
    let _ = writeln!(s, "expected: {}", c.expected);
    let _ = writeln!(s, "observed: {}", c.observed);
    for d in c.details.iter().take(MAX_DETAILS) {
        let _ = writeln!(s, "  {d}");
    }
    if c.details.len() > MAX_DETAILS {
        let _ = writeln!(s, "  ... {} more", c.details.len() - MAX_DETAILS);
    }
    s
}

fn steps_text(r: &RunReport) -> String {
    let mut s = String::new();
    for st in &r.steps {
        let _ = writeln!(
            s,
            "step {} {} {}: {} ({} ms){}",
            st.index,
            st.node,
            st.action,
            if st.ok { "ok" } else { "FAILED" },
            st.elapsed_ms,
            st.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    s
}

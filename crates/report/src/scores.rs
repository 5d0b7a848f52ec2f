//! Grades of an exercise (`lab grade`): one row per student, as CSV for a spreadsheet and
//! as JUnit XML (a testsuite per student, a testcase per check) for a CI dashboard.

use std::fmt::Write as _;

use crate::escape::xml;

/// One check of one submission.
#[derive(Debug, Clone)]
pub struct CheckScore {
    pub id: String,
    pub hidden: bool,
    pub points: u32,
    pub met: bool,
    /// What the evidence showed, in words (the failure message when not met).
    pub observed: String,
}

/// One student's grade.
#[derive(Debug, Clone)]
pub struct ScoreRow {
    pub student: String,
    /// The submission file (empty when the student handed in nothing).
    pub file: String,
    pub score: u32,
    pub max: u32,
    pub checks: Vec<CheckScore>,
    /// Why the submission could not be graded (bad file, run error, nothing handed in).
    pub error: Option<String>,
    /// Changes outside what the student may edit, which grading did not use.
    pub ignored: Vec<String>,
    pub run_dir: String,
    pub duration_s: f64,
}

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) made plain text by a leading `'`. Student ids, submission file names
/// and error messages quoting them are the student's text: `=HYPERLINK(...).yaml` must land
/// in the instructor's spreadsheet as a name, not as a link or a command (CSV injection).
pub fn spreadsheet_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// CSV: student, file, score, max, percent, one column per check (its points when met, 0
/// when not), error, ignored changes, run directory. Check columns follow `check_ids`.
/// Every cell goes through [`spreadsheet_cell`].
pub fn scores_csv(rows: &[ScoreRow], check_ids: &[String]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["student", "file", "score", "max", "percent"]
        .map(String::from)
        .to_vec();
    header.extend(check_ids.iter().cloned());
    header.extend(["error", "ignored", "run_dir"].map(String::from));
    let safe = |rec: &[String]| -> Vec<String> {
        rec.iter()
            .map(|c| spreadsheet_cell(c).into_owned())
            .collect()
    };
    w.write_record(safe(&header)).expect("in memory");
    for r in rows {
        let mut rec = vec![
            r.student.clone(),
            r.file.clone(),
            r.score.to_string(),
            r.max.to_string(),
            if r.max == 0 {
                "0".into()
            } else {
                format!("{:.0}", 100.0 * r.score as f64 / r.max as f64)
            },
        ];
        for id in check_ids {
            rec.push(match r.checks.iter().find(|c| &c.id == id) {
                Some(c) if c.met => c.points.to_string(),
                Some(_) => "0".into(),
                None => String::new(),
            });
        }
        rec.push(r.error.clone().unwrap_or_default());
        rec.push(r.ignored.join(" "));
        rec.push(r.run_dir.clone());
        w.write_record(safe(&rec)).expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
}

/// JUnit XML: a testsuite per student (named by the student), a testcase per check; a
/// submission that could not be graded is one testcase `(submission)` with an error.
pub fn scores_junit(exercise: &str, rows: &[ScoreRow]) -> String {
    let mut body = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for r in rows {
        let (t, f, e) = match &r.error {
            Some(_) if r.checks.is_empty() => (1, 0, 1),
            Some(_) => (
                r.checks.len() + 1,
                r.checks.iter().filter(|c| !c.met).count(),
                1,
            ),
            None => (
                r.checks.len(),
                r.checks.iter().filter(|c| !c.met).count(),
                0,
            ),
        };
        tests += t;
        failures += f;
        errors += e;
        let _ = writeln!(
            body,
            "  <testsuite name=\"{}\" tests=\"{t}\" failures=\"{f}\" errors=\"{e}\" time=\"{:.3}\">",
            xml(&r.student, true),
            r.duration_s.max(0.0)
        );
        let _ = writeln!(
            body,
            "    <properties><property name=\"score\" value=\"{}\"/><property name=\"max\" value=\"{}\"/><property name=\"file\" value=\"{}\"/></properties>",
            r.score,
            r.max,
            xml(&r.file, true)
        );
        for c in &r.checks {
            let name = format!("{}{}", c.id, if c.hidden { " (hidden)" } else { "" });
            let _ = write!(
                body,
                "    <testcase classname=\"{}\" name=\"{}\">",
                xml(exercise, true),
                xml(&name, true)
            );
            if !c.met {
                let _ = write!(
                    body,
                    "<failure message=\"{}\" type=\"not-met\">worth {} point(s)</failure>",
                    xml(&c.observed, true),
                    c.points
                );
            }
            body.push_str("</testcase>\n");
        }
        if let Some(e) = &r.error {
            let _ = writeln!(
                body,
                "    <testcase classname=\"{}\" name=\"(submission)\"><error message=\"{}\" type=\"cannot-grade\"/></testcase>",
                xml(exercise, true),
                xml(e, true)
            );
        }
        body.push_str("  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n{body}</testsuites>\n",
        xml(exercise, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(student: &str, met: bool, error: Option<&str>) -> ScoreRow {
        ScoreRow {
            student: student.into(),
            file: format!("{student}.yaml"),
            score: if met { 3 } else { 1 },
            max: 3,
            checks: vec![
                CheckScore {
                    id: "store-ok".into(),
                    hidden: false,
                    points: 1,
                    met: true,
                    observed: "1 instance".into(),
                },
                CheckScore {
                    id: "tls-only".into(),
                    hidden: true,
                    points: 2,
                    met,
                    observed: "DICOM, \"in clear\"".into(),
                },
            ],
            error: error.map(String::from),
            ignored: vec![],
            run_dir: "runs/x".into(),
            duration_s: 1.5,
        }
    }

    #[test]
    fn csv_has_a_column_per_check_and_quotes_what_needs_it() {
        let ids = vec!["store-ok".to_string(), "tls-only".to_string()];
        let out = scores_csv(
            &[row("s1", true, None), row("s2", false, Some("bad, file"))],
            &ids,
        );
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            &header[..7],
            [
                "student", "file", "score", "max", "percent", "store-ok", "tls-only"
            ]
        );
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][2], "3");
        assert_eq!(&rows[0][4], "100");
        assert_eq!(&rows[1][6], "0");
        assert_eq!(&rows[1][7], "bad, file");
    }

    /// A submission named `=HYPERLINK(...)` (or an error quoting it, or a student id
    /// starting with `+`, `-`, `@`, a tab or a carriage return) reaches the spreadsheet as
    /// text: each such cell starts with `'`; other cells are untouched.
    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
        let ids = vec!["store-ok".to_string(), "tls-only".to_string()];
        let mut r = row("@s1", true, Some("-bad"));
        r.file = "=HYPERLINK(\"http://x/\",\"open\").yaml".into();
        r.ignored = vec!["+cmd|' /C calc'!A0".into()];
        r.run_dir = "\tx".into();
        let mut r2 = row("s2", false, Some("\r=1+1"));
        r2.file = "s2.yaml".into();
        let out = scores_csv(&[r, r2], &ids);
        let mut rd = csv::Reader::from_reader(out.as_bytes());
        let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        assert_eq!(&rows[0][0], "'@s1");
        assert_eq!(&rows[0][1], "'=HYPERLINK(\"http://x/\",\"open\").yaml");
        assert_eq!(&rows[0][7], "'-bad");
        assert_eq!(&rows[0][8], "'+cmd|' /C calc'!A0");
        assert_eq!(&rows[0][9], "'\tx");
        assert_eq!(&rows[1][7], "'\r=1+1");
        // Nothing else changes: numbers, plain names.
        assert_eq!(
            (&rows[1][0], &rows[1][1], &rows[1][2]),
            ("s2", "s2.yaml", "1")
        );
        for rec in &rows {
            for cell in rec {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{cell:?}"
                );
            }
        }
    }

    #[test]
    fn junit_counts_failures_and_errors() {
        let out = scores_junit("ex", &[row("s1", true, None), row("s2", false, Some("x"))]);
        let doc = roxmltree::Document::parse(&out).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("5"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("errors"), Some("1"));
        assert!(out.contains("tls-only (hidden)"));
    }
}

//! A class roster: CSV with a header naming an `id` (or `student`) column and, optionally,
//! a `name` column. The roster comes from a spreadsheet an instructor exported, so it is
//! read as untrusted text: its size and its number of students are bounded before anything
//! is kept, and every id must be usable as a file name (it names the student's handout).

use std::collections::BTreeSet;

use crate::exercise::valid_student_id;

/// The largest roster read. A class of a thousand students is about 40 KB.
pub const MAX_ROSTER_BYTES: usize = 1024 * 1024;

/// The most students one roster may list: each becomes a lab run at grading time.
pub const MAX_STUDENTS: usize = 5000;

/// A student of the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Student {
    pub id: String,
    pub name: Option<String>,
}

/// What is wrong with a roster, with the line it is on (1 is the header) and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}{}", line.map(|l| format!(":{l}")).unwrap_or_default(), fix.as_ref().map(|f| format!("\n  fix: {f}")).unwrap_or_default())]
pub struct RosterError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    pub fix: Option<String>,
}

/// Parses the text of a roster read from `file` (the name is only used in errors).
pub fn parse(file: &str, text: &[u8]) -> Result<Vec<Student>, RosterError> {
    let err = |line: Option<usize>, message: String, fix: Option<&str>| RosterError {
        file: file.to_string(),
        line,
        message,
        fix: fix.map(String::from),
    };
    if text.len() > MAX_ROSTER_BYTES {
        return Err(err(
            None,
            format!(
                "the roster is {} bytes, more than the {MAX_ROSTER_BYTES} a roster may have",
                text.len()
            ),
            Some("split the class into several rosters"),
        ));
    }
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text);
    let headers = r
        .headers()
        .map_err(|e| err(Some(1), format!("cannot read the header: {e}"), None))?
        .clone();
    let col = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let Some(id_col) = col(&["id", "student", "student_id"]) else {
        return Err(err(
            Some(1),
            format!(
                "the roster has no `id` column (its header is: {})",
                headers.iter().collect::<Vec<_>>().join(",").escape_debug()
            ),
            Some("make the first line `id,name` and put one student per line"),
        ));
    };
    let name_col = col(&["name"]);
    let mut students = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| err(Some(line), e.to_string(), None))?;
        let id = rec.get(id_col).unwrap_or("");
        if id.is_empty() {
            continue;
        }
        if !valid_student_id(id) {
            return Err(err(
                Some(line),
                format!("`{}` is not a usable student id", id.escape_debug()),
                Some("letters, digits, '.', '_' and '-', at most 40 (it names the student's file)"),
            ));
        }
        if !seen.insert(id.to_string()) {
            return Err(err(
                Some(line),
                format!("student `{id}` is listed twice"),
                None,
            ));
        }
        if students.len() == MAX_STUDENTS {
            return Err(err(
                Some(line),
                format!("the roster lists more than {MAX_STUDENTS} students"),
                Some("split the class into several rosters"),
            ));
        }
        students.push(Student {
            id: id.to_string(),
            name: name_col.and_then(|c| rec.get(c)).map(String::from),
        });
    }
    if students.is_empty() {
        return Err(err(None, "the roster lists no students".into(), None));
    }
    Ok(students)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_and_names() {
        let s = parse("r.csv", b"id,name\ns1, Ada \n\ns2,Bob\n").unwrap();
        assert_eq!(
            s,
            vec![
                Student {
                    id: "s1".into(),
                    name: Some("Ada".into())
                },
                Student {
                    id: "s2".into(),
                    name: Some("Bob".into())
                },
            ]
        );
    }

    #[test]
    fn located_errors() {
        let e = parse("r.csv", b"who\nx\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse("r.csv", b"id\ns1\n../etc\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse("r.csv", b"id\ns1\ns1\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("r.csv:3: student `s1` is listed twice"),
            "{e}"
        );
        assert!(parse("r.csv", b"id\n").is_err());
    }

    #[test]
    fn bounded() {
        let big = vec![b'a'; MAX_ROSTER_BYTES + 1];
        assert!(
            parse("r.csv", &big)
                .unwrap_err()
                .message
                .contains("more than")
        );
        let mut many = String::from("id\n");
        for i in 0..=MAX_STUDENTS {
            many.push_str(&format!("s{i}\n"));
        }
        let e = parse("r.csv", many.as_bytes()).unwrap_err();
        assert_eq!(e.line, Some(MAX_STUDENTS + 2), "{e}");
    }

    #[test]
    fn control_characters_in_a_header_are_escaped_in_the_error() {
        let e = parse("r.csv", b"\x1b[31mwho\n").unwrap_err();
        assert!(!e.to_string().contains('\x1b'), "{e}");
    }
}

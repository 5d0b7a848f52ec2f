//! `SHA256SUMS` of a run directory: written after every report, checked by `lab verify`.
//!
//! The format is `sha256sum`'s (`<hex>  <path>`, GNU escaping for names holding a
//! backslash or a line break), so `sha256sum -c SHA256SUMS` in the run directory agrees.

use std::io;
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use rundir::SUMS_FILE;

/// Every regular file under `run_dir` except `SHA256SUMS`, as sorted `/`-separated
/// relative paths. Symbolic links are not followed nor listed.
pub fn evidence_files(run_dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk(run_dir, run_dir, 0, &mut out)?;
    out.retain(|f| f != SUMS_FILE);
    out.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is nested more than {MAX_DEPTH} folders deep",
                dir.display()
            ),
        ));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let path = entry.path();
        if ty.is_dir() {
            walk(root, &path, depth + 1, out)?;
        } else if ty.is_file() {
            let rel = path.strip_prefix(root).expect("under root");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// The largest `SHA256SUMS` read by `lab verify`: a run lists a few hundred files.
pub const MAX_SUMS_BYTES: u64 = 16 * 1024 * 1024;

/// How deep `evidence_files` walks: a run directory is two or three levels deep.
const MAX_DEPTH: usize = 32;

/// A run directory handed to `lab verify` may come from anywhere: a listed name whose path
/// passes through a symbolic link (to `/dev/zero`, to `/etc`) is not evidence, and reading
/// through it could hang or read the host's files.
fn open_inside(run_dir: &Path, name: &str) -> io::Result<std::fs::File> {
    let mut path = run_dir.to_path_buf();
    for part in Path::new(name).components() {
        path.push(part);
        if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a symbolic link inside the run directory",
            ));
        }
    }
    if !std::fs::symlink_metadata(&path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    std::fs::File::open(path)
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    sha256_of(&mut f)
}

fn sha256_of(f: &mut std::fs::File) -> io::Result<String> {
    let mut h = Sha256::new();
    io::copy(f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Writes `SHA256SUMS` over every file of the run directory (reports included, itself
/// excluded); returns the files covered.
pub fn write_sums(run_dir: &Path) -> io::Result<Vec<String>> {
    let files = evidence_files(run_dir)?;
    let mut text = String::new();
    for f in &files {
        let sum = sha256_file(&run_dir.join(f))?;
        if f.contains(['\\', '\n', '\r']) {
            let escaped = f
                .replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\r', "\\r");
            text.push_str(&format!("\\{sum}  {escaped}\n"));
        } else {
            text.push_str(&format!("{sum}  {f}\n"));
        }
    }
    crate::atomic::write_atomic(&run_dir.join(SUMS_FILE), text.as_bytes())?;
    Ok(files)
}

/// What `lab verify` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Files whose digest matches.
    pub ok: Vec<String>,
    /// Files whose content changed.
    pub mismatched: Vec<String>,
    /// Files listed but absent (or unreadable).
    pub missing: Vec<String>,
    /// Lines that are not `<64 hex>  <relative path inside the run directory>`.
    pub invalid: Vec<String>,
    /// Files present but not covered by `SHA256SUMS` (added later: not verified).
    pub unlisted: Vec<String>,
}

impl Verification {
    /// Every listed file is there, unchanged, and every line made sense.
    pub fn is_ok(&self) -> bool {
        self.mismatched.is_empty() && self.missing.is_empty() && self.invalid.is_empty()
    }
}

/// Checks `run_dir/SHA256SUMS`. `Err` with [`io::ErrorKind::NotFound`] when there is no
/// `SHA256SUMS`; other errors when it cannot be read.
pub fn verify_sums(run_dir: &Path) -> io::Result<Verification> {
    let mut text = Vec::new();
    io::Read::read_to_end(
        &mut io::Read::take(open_inside(run_dir, SUMS_FILE)?, MAX_SUMS_BYTES + 1),
        &mut text,
    )?;
    if text.len() as u64 > MAX_SUMS_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{SUMS_FILE} is larger than {MAX_SUMS_BYTES} bytes: not a run's"),
        ));
    }
    let text = String::from_utf8_lossy(&text);
    let mut v = Verification::default();
    let mut listed = std::collections::BTreeSet::new();
    for (n, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let Some((sum, name)) = parse_line(raw) else {
            v.invalid
                .push(format!("line {}: {}", n + 1, raw.escape_debug()));
            continue;
        };
        if !safe_relative(&name) {
            v.invalid.push(format!(
                "line {}: `{}` is not a path inside the run directory",
                n + 1,
                name.escape_debug()
            ));
            continue;
        }
        listed.insert(name.clone());
        match open_inside(run_dir, &name).and_then(|mut f| sha256_of(&mut f)) {
            Ok(actual) if actual.eq_ignore_ascii_case(&sum) => v.ok.push(name),
            Ok(_) => v.mismatched.push(name),
            Err(_) => v.missing.push(name),
        }
    }
    if let Ok(files) = evidence_files(run_dir) {
        v.unlisted = files
            .into_iter()
            .filter(|f| !listed.contains(f) && !f.starts_with(&format!(".{SUMS_FILE}")))
            .collect();
    }
    Ok(v)
}

/// For the fuzz targets only; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// One line of `SHA256SUMS`: the digest and the unescaped name, if the line is one.
    pub fn parse_line(line: &str) -> Option<(String, String)> {
        super::parse_line(line)
    }
}

/// `<hex>  <name>` or `<hex> *<name>`, with GNU's leading-backslash escaping.
fn parse_line(line: &str) -> Option<(String, String)> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    if line.len() < 66 || !line.is_char_boundary(64) {
        return None;
    }
    let (sum, rest) = line.split_at(64);
    if !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let name = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))?;
    // a line naming no file lists nothing (found by the `sums` fuzz target)
    if name.is_empty() {
        return None;
    }
    let name = if escaped {
        let mut out = String::new();
        let mut chars = name.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next()? {
                    '\\' => out.push('\\'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    _ => return None,
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        name.to_string()
    };
    Some((sum.to_string(), name))
}

/// A relative path with no `..`, root or prefix: it cannot leave the run directory.
fn safe_relative(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod empty_name_regression {
    #[test]
    fn a_line_with_a_digest_and_no_name_lists_nothing() {
        let line = format!("\\{}  ", "b".repeat(64));
        assert_eq!(super::parse_line(&line), None);
        assert_eq!(super::parse_line(&format!("{}  ", "a".repeat(64))), None);
    }
}

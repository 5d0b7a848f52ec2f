//! What the engine saves of a PACS's state at the end of a run (`pacs/<node>/`), read as
//! hostile input. A lab that hands out `lua` lets a student run code inside Orthanc, so
//! everything printed inside the PACS container may be forged: Orthanc runs there as the
//! unprivileged `orthanc` user (`orthanc::command`), the engine's probes run as root with
//! root-owned tools Orthanc cannot replace, and whatever they print back is still checked
//! here before it names a file or reaches a grade: ids must be Orthanc ids the engine
//! asked about, digests 64 hex digits, and no host path is built from anything else.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use rundir::PACS_INSTANCES_DIR;
use runtime::Docker;

use crate::EngineError;
use crate::orthanc;

/// Where the grader's REST credentials are in a PACS container: root's home (mode 0700),
/// out of reach of the `orthanc` user, and never in an exec's argv (which `ps` shows to
/// every user of the host).
pub(crate) const GRADER_NETRC_DIR: &str = "/root";
pub(crate) const GRADER_NETRC_FILE: &str = ".dicom-range-grader.netrc";

/// Run inside the PACS as root (`bash -c SCRIPT digest <netrc> <base url> <keep> <dir>
/// <id>...`): one line per instance, `id<TAB>sha256 of frames/0/raw<TAB>yes if kept<TAB>
/// simplified tags on one line`. The digest is empty when the instance has no frame; it is
/// the fingerprint lab-agent reports for what it sent (agent::pixels::first_frame_sha256).
///
/// The first `keep` instances' files are also copied to `dir` (at most 32 MiB each), a
/// folder of root's own that the `orthanc` user cannot plant links in.
const INSTANCE_DIGEST_SCRIPT: &str = include_str!("../../../compose/helpers/instance-digests.sh");
/// Where the digest script leaves copies of stored files inside the PACS container.
const KEPT_INSTANCES_DIR: &str = "/root/dicom-range-evidence";
/// How many stored files a run keeps per PACS (`pacs/<node>/instances/<id>.dcm`).
const KEPT_INSTANCES: usize = 10;
/// How many instances a snapshot describes (tags and fingerprint).
const DESCRIBED_INSTANCES: usize = 100;
/// The longest line of the digest script's output that is believed (the tags of one
/// instance; curl stops at 1 MiB).
const MAX_LINE: usize = 1 << 20;

/// The grader's `.netrc`: its REST account on the PACS's own localhost.
pub(crate) fn grader_netrc(password: &str) -> Vec<u8> {
    format!(
        "machine 127.0.0.1 login {} password {password}\n",
        orthanc::GRADER_USER
    )
    .into_bytes()
}

fn netrc_path() -> String {
    format!("{GRADER_NETRC_DIR}/{GRADER_NETRC_FILE}")
}

/// `curl` of Orthanc's REST API on the PACS's own localhost, as the grader.
pub(crate) fn curl(path: &str, max_secs: u32) -> Vec<String> {
    vec![
        "curl".to_string(),
        "-sf".into(),
        "--max-time".into(),
        max_secs.to_string(),
        "--max-filesize".into(),
        (16 << 20).to_string(),
        "--netrc-file".into(),
        netrc_path(),
        format!("http://127.0.0.1:{}{path}", orthanc::HTTP_PORT),
    ]
}

/// Whether `s` is an Orthanc resource id: five groups of 8 lowercase hex digits joined by
/// dashes (a SHA-1 of the DICOM UIDs, as Orthanc prints it).
pub(crate) fn is_orthanc_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Whether `s` is a SHA-256 digest in lowercase hex.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One stored instance as the digest script described it, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredInstance {
    pub id: String,
    pub first_frame_sha256: Option<String>,
    pub kept: bool,
    pub tags: serde_json::Value,
}

/// Reads the digest script's output against the ids it was given. Anything out of shape
/// (an id not asked for, or twice; a digest that is not one; more lines than ids) makes the
/// whole answer untrusted: the error says what was forged, and nothing of it is kept.
pub(crate) fn parse_digest_output(
    stdout: &str,
    requested: &[String],
) -> Result<Vec<StoredInstance>, String> {
    let asked: BTreeSet<&str> = requested.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (n, line) in stdout.lines().enumerate() {
        let shown = || preview(line);
        if n >= requested.len() {
            return Err(format!(
                "more lines than the {} instance(s) asked about (line {}: {})",
                requested.len(),
                n + 1,
                shown()
            ));
        }
        if line.len() > MAX_LINE {
            return Err(format!("line {} is over {MAX_LINE} bytes", n + 1));
        }
        let mut parts = line.splitn(4, '\t');
        let (Some(id), Some(frame), Some(kept), Some(json)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "line {} is not id, digest, kept, tags: {}",
                n + 1,
                shown()
            ));
        };
        if !is_orthanc_id(id) {
            return Err(format!(
                "line {} names {:?}, not an Orthanc id",
                n + 1,
                preview(id)
            ));
        }
        if !asked.contains(id) {
            return Err(format!(
                "line {} names instance {id}, which was not asked about",
                n + 1
            ));
        }
        if !seen.insert(id.to_string()) {
            return Err(format!("line {} names instance {id} a second time", n + 1));
        }
        if !frame.is_empty() && !is_sha256_hex(frame) {
            return Err(format!(
                "line {} gives {:?} as the first frame's SHA-256 of {id}",
                n + 1,
                preview(frame)
            ));
        }
        let kept = match kept {
            "yes" => true,
            "" => false,
            other => {
                return Err(format!("line {} has {:?} for kept", n + 1, preview(other)));
            }
        };
        let tags: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        out.push(StoredInstance {
            id: id.to_string(),
            first_frame_sha256: (!frame.is_empty()).then(|| frame.to_string()),
            kept,
            tags,
        });
    }
    Ok(out)
}

/// The start of untrusted text for an error message, control characters escaped.
fn preview(s: &str) -> String {
    let mut p: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        p.push('…');
    }
    p
}

/// Writes a new evidence file: never over an existing file, never through a link planted
/// where it should be (`create_new` fails on anything already at the path), and whole or
/// not at all: a write that fails (a full disk) removes the file it made, so no
/// half-written JSON is left to be graded as if it were the PACS's answer.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    use std::io::Write;
    let err = |e| EngineError::io(format!("writing {}", path.display()))(e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(err)?;
    match f.write_all(bytes).and_then(|()| f.sync_all()) {
        Ok(()) => Ok(()),
        Err(e) => {
            drop(f);
            // Ours: `create_new` made it a moment ago.
            let _ = std::fs::remove_file(path);
            Err(err(e))
        }
    }
}

/// The instance ids a snapshot believes from REST `/instances`: Orthanc ids only, each
/// once, at most `DESCRIBED_INSTANCES`.
fn listed_ids(body: &str) -> Result<Vec<String>, String> {
    let ids: Vec<String> =
        serde_json::from_str(body).map_err(|e| format!("/instances is not a list of ids: {e}"))?;
    if let Some(bad) = ids.iter().find(|id| !is_orthanc_id(id)) {
        return Err(format!(
            "/instances lists {:?}, not an Orthanc id",
            preview(bad)
        ));
    }
    let mut seen = BTreeSet::new();
    Ok(ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .take(DESCRIBED_INSTANCES)
        .collect())
}

/// Saves `pacs/<node>/`: instances.json, system.json, statistics.json, tags.json, the
/// first stored files and files.json (the paths `pacs.file_written` checks ask about).
pub(crate) async fn save(
    docker: &Docker,
    container: &str,
    dir: &Path,
    file_checks: &[String],
) -> Result<(), EngineError> {
    std::fs::create_dir_all(dir).map_err(EngineError::io(format!("creating {}", dir.display())))?;
    let untrusted = |what: String| {
        EngineError::PacsState(format!(
            "the PACS's answer is not trusted ({what}); its stored-instance evidence was not saved"
        ))
    };
    let mut ids = Vec::new();
    for (file, path) in [
        (rundir::PACS_INSTANCES_FILE, "/instances"),
        ("system.json", "/system"),
        ("statistics.json", "/statistics"),
    ] {
        let body = get(docker, container, path).await?;
        if path == "/instances" {
            ids = listed_ids(&body).map_err(untrusted)?;
        }
        write_new(&dir.join(file), body.as_bytes())?;
    }
    // The main tags and the first frame's fingerprint of each instance (bounded), for
    // checks on what was stored. One exec for all: a docker exec costs tens of ms.
    let mut tags = Vec::new();
    if !ids.is_empty() {
        let mut cmd = vec![
            "bash".to_string(),
            "-c".into(),
            INSTANCE_DIGEST_SCRIPT.into(),
            "digest".into(),
            netrc_path(),
            format!("http://127.0.0.1:{}", orthanc::HTTP_PORT),
            KEPT_INSTANCES.to_string(),
            KEPT_INSTANCES_DIR.into(),
        ];
        cmd.extend(ids.iter().cloned());
        let out = docker
            .exec(container, &cmd, Duration::from_secs(60))
            .await?;
        if out.exit_code != 0 {
            return Err(EngineError::PacsState(format!(
                "reading the stored instances failed (exit {}): {}",
                out.exit_code,
                preview(out.stderr.trim())
            )));
        }
        let instances = parse_digest_output(&out.stdout, &ids).map_err(untrusted)?;
        let kept_dir = dir.join(PACS_INSTANCES_DIR);
        for inst in instances {
            // The stored file itself, to open in a viewer (the tampered image, say). A
            // copy that fails is noted in tags.json; the snapshot does not depend on it.
            // `inst.id` is a checked Orthanc id: the only text of the PACS's in the path.
            let mut kept_error = None;
            if inst.kept {
                match docker
                    .read_file(container, &format!("{KEPT_INSTANCES_DIR}/{}.dcm", inst.id))
                    .await
                {
                    Ok(file) => {
                        std::fs::create_dir_all(&kept_dir)
                            .map_err(EngineError::io(format!("creating {}", kept_dir.display())))?;
                        write_new(&kept_dir.join(format!("{}.dcm", inst.id)), &file)?;
                    }
                    Err(e) => kept_error = Some(e.to_string()),
                }
            }
            let text = |k: &str| inst.tags[k].as_str().map(str::to_string);
            tags.push(rundir::StoredInstance {
                id: inst.id,
                patient_name: text("PatientName"),
                patient_id: text("PatientID"),
                sop_instance_uid: text("SOPInstanceUID"),
                first_frame_sha256: inst.first_frame_sha256,
                file_not_kept: kept_error,
            });
        }
    }
    write_new(
        &dir.join(rundir::PACS_TAGS_FILE),
        serde_json::to_string_pretty(&tags)
            .expect("json")
            .as_bytes(),
    )?;
    // Files the lab's checks ask about (an arbitrary file write lands there or not).
    let mut files = serde_json::Map::new();
    for path in file_checks {
        let out = docker
            .exec(
                container,
                &["test".into(), "-e".into(), path.clone()],
                Duration::from_secs(10),
            )
            .await?;
        files.insert(path.clone(), serde_json::json!(out.exit_code == 0));
    }
    write_new(
        &dir.join(rundir::PACS_FILES_FILE),
        serde_json::to_string_pretty(&files)
            .expect("json")
            .as_bytes(),
    )?;
    Ok(())
}

/// GET from Orthanc's REST API inside its own container, as the engine's grader account
/// (harmless where authentication is off).
async fn get(docker: &Docker, container: &str, path: &str) -> Result<String, EngineError> {
    let out = docker
        .exec(container, &curl(path, 10), Duration::from_secs(15))
        .await?;
    if out.exit_code != 0 {
        return Err(EngineError::PacsState(format!(
            "GET {path} failed (curl exit {})",
            out.exit_code
        )));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0a1b2c3d-4e5f6a7b-8c9d0e1f-2a3b4c5d-6e7f8a9b";
    const B: &str = "11111111-22222222-33333333-44444444-55555555";
    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn asked() -> Vec<String> {
        vec![A.to_string(), B.to_string()]
    }

    #[test]
    fn ids_are_orthanc_ids_only() {
        assert!(is_orthanc_id(A));
        for bad in [
            "",
            "../../../../tmp/pwned",
            "/etc/passwd",
            "0A1B2C3D-4E5F6A7B-8C9D0E1F-2A3B4C5D-6E7F8A9B",
            "0a1b2c3d-4e5f6a7b-8c9d0e1f-2a3b4c5d",
            "0a1b2c3d-4e5f6a7b-8c9d0e1f-2a3b4c5d-6e7f8a9b-",
            "0a1b2c3d-4e5f6a7b-8c9d0e1f-2a3b4c5d-6e7f8a9g",
            "0a1b2c3d-4e5f6a7b-8c9d0e1f-2a3b4c5d-6e7f8a9b/..",
        ] {
            assert!(!is_orthanc_id(bad), "{bad:?}");
        }
        assert!(is_sha256_hex(DIGEST));
        assert!(!is_sha256_hex(&DIGEST[..63]));
        assert!(!is_sha256_hex(&DIGEST.to_uppercase()));
        assert!(!is_sha256_hex("forged"));
    }

    #[test]
    fn an_honest_answer_is_read() {
        let out = format!("{A}\t{DIGEST}\tyes\t{{\"PatientName\":\"DOE^JANE\"}}\n{B}\t\t\t{{}}\n");
        let got = parse_digest_output(&out, &asked()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].first_frame_sha256.as_deref(), Some(DIGEST));
        assert!(got[0].kept);
        assert_eq!(got[0].tags["PatientName"], "DOE^JANE");
        assert_eq!(got[1].first_frame_sha256, None);
        assert!(!got[1].kept);
    }

    #[test]
    fn a_forged_answer_is_refused_whole() {
        for (forged, says) in [
            (
                format!("../../../../tmp/pwned\t{DIGEST}\tyes\t{{}}"),
                "not an Orthanc id",
            ),
            (
                format!("/tmp/pwned\t{DIGEST}\tyes\t{{}}"),
                "not an Orthanc id",
            ),
            (
                format!("ffffffff-ffffffff-ffffffff-ffffffff-ffffffff\t{DIGEST}\tyes\t{{}}"),
                "not asked about",
            ),
            (format!("{A}\tforged\tyes\t{{}}"), "SHA-256"),
            (
                format!("{A}\t{}\tyes\t{{}}", DIGEST.to_uppercase()),
                "SHA-256",
            ),
            (
                format!("{A}\t{DIGEST}\tyes\t{{}}\n{A}\t{DIGEST}\t\t{{}}"),
                "second time",
            ),
            (format!("{A}\t{DIGEST}\t../x\t{{}}"), "for kept"),
            (format!("{A}\t{DIGEST}"), "not id, digest"),
            (
                format!("{A}\t\t\t{{}}\n{B}\t\t\t{{}}\n{B}\t\t\t{{}}"),
                "more lines",
            ),
        ] {
            let err = parse_digest_output(&forged, &asked()).unwrap_err();
            assert!(err.contains(says), "{forged:?}: {err}");
        }
    }

    #[test]
    fn the_instance_list_holds_orthanc_ids_only() {
        assert_eq!(listed_ids(&format!("[\"{A}\",\"{A}\"]")).unwrap(), vec![A]);
        assert!(
            listed_ids("[\"../../x\"]")
                .unwrap_err()
                .contains("not an Orthanc id")
        );
        assert!(listed_ids("{}").is_err());
    }

    #[test]
    fn evidence_files_are_never_written_through_a_link() {
        let dir = std::env::temp_dir().join(format!("pacs-evidence-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target");
        std::os::unix::fs::symlink(&target, dir.join("tags.json")).unwrap();
        assert!(write_new(&dir.join(rundir::PACS_TAGS_FILE), b"x").is_err());
        assert!(!target.exists(), "the link was followed");
        write_new(&dir.join("new.json"), b"[]").unwrap();
        assert!(write_new(&dir.join("new.json"), b"again").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

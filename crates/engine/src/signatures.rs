//! The PACS side's check of what it archived: DCMTK's `dcmsign --verify` over every file
//! the run kept of a PACS (`pacs/<node>/instances/`), trusting the run's CA only. It runs
//! in a short-lived toolbox container on no network at all, with the verifier's limits;
//! what it prints is hostile (the files came through the attacker) and read bounded.
//! The verdicts are saved as `pacs/<node>/signatures.json`, which `pacs.signatures`
//! grades offline.

use std::path::Path;
use std::time::Duration;

use rundir::{PACS_INSTANCES_DIR, RunDir, SignatureCheck, SignatureItem, SignatureState};
use runtime::{ContainerSpec, Docker, LABEL_HELPER};

use crate::EngineError;
use crate::images::Image;
use crate::limits::Role;
use crate::pacs_evidence::is_orthanc_id;
use crate::plan::RunPlan;
use crate::save;

/// Where the verifier finds the files and the run's CA (a folder every image has).
const VERIFY_DIR: &str = "/tmp";
/// The largest archived file verified (the digest script keeps at most 32 MiB).
const MAX_FILE: u64 = 32 << 20;
/// What is kept of dcmsign's output per file; the rest is read and dropped.
const MAX_OUTPUT: usize = 256 << 10;
/// The longest line believed, and how many signatures are described per file.
const MAX_LINE: usize = 1024;
const MAX_SIGNATURES: usize = 64;
/// One file's verification, at most.
const VERIFY_LIMIT: Duration = Duration::from_secs(60);

/// Verifies the files kept of PACS `node` and saves `signatures.json`. `ca_pem` is the
/// run's CA (None when the run has none: then no signature can verify).
pub(crate) async fn verify(
    docker: &Docker,
    plan: &RunPlan,
    dir: &RunDir,
    node: &str,
    ca_pem: Option<&str>,
) -> Result<(), EngineError> {
    let kept = kept_files(&dir.pacs(node).join(PACS_INSTANCES_DIR));
    let mut checks = if kept.is_empty() {
        Vec::new()
    } else {
        run_verifier(docker, plan, node, &kept, ca_pem).await?
    };
    checks.sort_by(|a, b| a.instance.cmp(&b.instance));
    let json = serde_json::to_vec_pretty(&checks)
        .map_err(|e| EngineError::EvidenceLost(vec![format!("signatures of `{node}`: {e}")]))?;
    save::write(&dir.pacs(node).join(rundir::PACS_SIGNATURES_FILE), json)?;
    Ok(())
}

/// `<orthanc id>.dcm` files of `dir`, by id; anything else there is ignored.
fn kept_files(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".dcm")?;
            is_orthanc_id(id).then(|| (id.to_string(), e.path()))
        })
        .collect();
    out.sort();
    out
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(format!("larger than {MAX_FILE} bytes: not verified"));
    }
    Ok(bytes)
}

fn unreadable(id: &str, rel: &str, why: String) -> SignatureCheck {
    SignatureCheck {
        instance: id.into(),
        file: rel.into(),
        state: SignatureState::Unreadable,
        signatures: Vec::new(),
        summary: Some(why),
        exit_code: -1,
        verifier: "dcmsign".into(),
    }
}

/// The dcmsign command over one file in the verifier.
fn verify_cmd(file: &str, with_ca: bool) -> Vec<String> {
    let mut cmd: Vec<String> = ["dcmsign", "--verbose", "--verify"]
        .map(String::from)
        .to_vec();
    if with_ca {
        cmd.extend(["--add-cert-file".into(), format!("{VERIFY_DIR}/ca.pem")]);
    }
    cmd.push(file.into());
    cmd
}

/// One verifier container for all of `kept`, given one file at a time (read from the run
/// directory at most `MAX_FILE` bytes, so memory holds one file and its tar at most).
async fn run_verifier(
    docker: &Docker,
    plan: &RunPlan,
    node: &str,
    kept: &[(String, std::path::PathBuf)],
    ca_pem: Option<&str>,
) -> Result<Vec<SignatureCheck>, EngineError> {
    let name = format!("{}-verify", plan.container(node));
    let mut labels = plan.labels(&format!("{node}-verify"));
    labels.insert(LABEL_HELPER.into(), "verify".into());
    let spec = ContainerSpec {
        name: name.clone(),
        image: Image::Toolbox.tag(),
        cmd: protocol::Command::Idle.to_argv(),
        labels,
        // No network: the verifier needs none and reaches nothing.
        networks: Vec::new(),
        cap_add: Role::Verifier.caps(),
        limits: Some(Role::Verifier.limits()),
        files: ca_pem
            .map(|ca| (VERIFY_DIR.into(), "ca.pem".into(), ca.as_bytes().to_vec()))
            .into_iter()
            .collect(),
        ..Default::default()
    };
    docker.start_container(&spec).await?;
    let verified = verify_each(docker, &name, node, kept, ca_pem.is_some()).await;
    let removed = docker.remove_container(&name).await;
    let checks = verified?;
    removed?;
    Ok(checks)
}

async fn verify_each(
    docker: &Docker,
    container: &str,
    node: &str,
    kept: &[(String, std::path::PathBuf)],
    with_ca: bool,
) -> Result<Vec<SignatureCheck>, EngineError> {
    let mut checks = Vec::new();
    for (id, path) in kept {
        let rel = format!(
            "{}/{}/{PACS_INSTANCES_DIR}/{id}.dcm",
            rundir::PACS_DIR,
            rundir::component(node)
        );
        let name = format!("{id}.dcm");
        let bytes = match read_bounded(path) {
            Ok(b) => b,
            Err(why) => {
                checks.push(unreadable(id, &rel, why));
                continue;
            }
        };
        docker
            .put_files(container, &[(VERIFY_DIR.into(), name.clone(), bytes)])
            .await?;
        let cmd = verify_cmd(&format!("{VERIFY_DIR}/{name}"), with_ca);
        let mut out = Vec::new();
        let run = docker.exec_streaming(container, &cmd, |_, bytes| {
            let room = MAX_OUTPUT.saturating_sub(out.len());
            out.extend_from_slice(&bytes[..bytes.len().min(room)]);
        });
        match tokio::time::timeout(VERIFY_LIMIT, run).await {
            Ok(code) => {
                let text = String::from_utf8_lossy(&out);
                checks.push(parse_verify(id, &rel, code?, &text));
            }
            Err(_) => checks.push(unreadable(
                id,
                &rel,
                format!("dcmsign did not finish within {} s", VERIFY_LIMIT.as_secs()),
            )),
        }
    }
    Ok(checks)
}

/// `key : value` of a dcmsign verbose line (`I:   MAC ID    : 0`), key trimmed.
fn field(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    Some((key.trim(), value.trim()))
}

/// What `dcmsign --verbose --verify` printed about one file (its log lines, `W:`/`I:`/`E:`
/// prefixed), as a verdict. Only lines it recognises are believed, each at most
/// `MAX_LINE` bytes; at most `MAX_SIGNATURES` signatures are described.
pub(crate) fn parse_verify(id: &str, rel: &str, exit_code: i64, text: &str) -> SignatureCheck {
    let mut signatures: Vec<SignatureItem> = Vec::new();
    let mut summary = None;
    let mut none_found = false;
    let mut in_certificate = false;
    for raw in text.lines().take(20_000) {
        if raw.len() > MAX_LINE {
            continue;
        }
        // The log level prefix (`I: `, `W: `, `E: `).
        let line = raw
            .get(3..)
            .filter(|_| raw.get(1..3) == Some(": "))
            .unwrap_or(raw);
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Signature #") {
            if signatures.len() >= MAX_SIGNATURES {
                break;
            }
            let (number, uid) = rest.split_once(' ').unwrap_or((rest, ""));
            signatures.push(SignatureItem {
                number: number.parse().unwrap_or(signatures.len() as u32 + 1),
                uid: uid.strip_prefix("UID=").map(str::to_string),
                ..Default::default()
            });
            in_certificate = false;
            continue;
        }
        if trimmed.starts_with("no signatures found") {
            none_found = true;
            continue;
        }
        if trimmed.contains("signatures verified in dataset") {
            summary = Some(trimmed.to_string());
            continue;
        }
        let Some(sig) = signatures.last_mut() else {
            continue;
        };
        let Some((key, value)) = field(trimmed) else {
            continue;
        };
        match key {
            "Location" => sig.location = Some(value.into()),
            "MAC ID" => sig.mac_id = Some(value.into()),
            "MAC algorithm" => sig.mac_algorithm = Some(value.into()),
            "Certificate of signer" => in_certificate = true,
            "Subject" if in_certificate => sig.signer = Some(value.into()),
            "Signature Verification" => {
                sig.ok = value == "OK";
                sig.verification = value.into();
            }
            _ => {}
        }
    }
    let state = if signatures.is_empty() {
        if none_found && exit_code == 0 {
            SignatureState::Unsigned
        } else {
            SignatureState::Unreadable
        }
    } else if signatures.iter().all(|s| s.ok) && exit_code == 0 {
        SignatureState::Valid
    } else {
        SignatureState::Broken
    };
    SignatureCheck {
        instance: id.into(),
        file: rel.into(),
        state,
        signatures,
        summary,
        exit_code,
        verifier: "dcmsign".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORRUPTED: &str = "I: open input file /verify/x.dcm
I: verifying all signatures.
W: Signature #1 UID=1.2.276.0.7230010.3.1.4.8323328.27481.1796662663.477534
I:   Location                    : Main Dataset
I:   MAC ID                      : 0
I:   MAC algorithm               : SHA256
I:   Data elements signed        :
I:       (0010,0010) PatientName
I:       (7fe0,0010) PixelData
I:   Certificate of signer       : 
I:       X.509v3
I:       Subject                 : /CN=modality (instance signer)
I:       Issued by               : /CN=dicom-range run x CA
W:   Signature Verification      : signature verification failed: signature is invalid (document corrupted)
I: 1 signatures verified in dataset, 1 corrupted.
";

    #[test]
    fn a_corrupted_signature_is_broken_and_named() {
        let c = parse_verify("id", "pacs/pacs/instances/id.dcm", 101, CORRUPTED);
        assert_eq!(c.state, SignatureState::Broken);
        let s = &c.signatures[0];
        assert_eq!(
            s.uid.as_deref(),
            Some("1.2.276.0.7230010.3.1.4.8323328.27481.1796662663.477534")
        );
        assert_eq!(s.mac_id.as_deref(), Some("0"));
        assert_eq!(s.mac_algorithm.as_deref(), Some("SHA256"));
        assert_eq!(s.signer.as_deref(), Some("/CN=modality (instance signer)"));
        assert!(s.verification.contains("document corrupted"), "{s:?}");
        assert!(!s.ok);
        assert_eq!(
            c.summary.as_deref(),
            Some("1 signatures verified in dataset, 1 corrupted.")
        );
    }

    #[test]
    fn an_ok_signature_is_valid_only_with_exit_zero() {
        let ok = CORRUPTED
            .replace(
                "signature verification failed: signature is invalid (document corrupted)",
                "OK",
            )
            .replace(", 1 corrupted.", ", 0 corrupted.");
        assert_eq!(parse_verify("i", "f", 0, &ok).state, SignatureState::Valid);
        assert_eq!(parse_verify("i", "f", 1, &ok).state, SignatureState::Broken);
    }

    #[test]
    fn no_signature_is_unsigned_and_noise_is_unreadable() {
        let none = "I: open input file x\nW: no signatures found in dataset.\n";
        assert_eq!(
            parse_verify("i", "f", 0, none).state,
            SignatureState::Unsigned
        );
        let noise = "E: cannot open file\n".to_string() + &"x".repeat(5000);
        let c = parse_verify("i", "f", 1, &noise);
        assert_eq!(c.state, SignatureState::Unreadable);
        // A forged flood of signatures is cut at the bound.
        let flood = "W: Signature #1 UID=1\n".repeat(10_000);
        assert_eq!(
            parse_verify("i", "f", 1, &flood).signatures.len(),
            MAX_SIGNATURES
        );
    }
}

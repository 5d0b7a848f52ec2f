//! The Orthanc configuration a lab's PACS starts with: safe lab defaults, then the node's
//! `config` merged over them key by key.

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub const DICOM_PORT: u16 = 4242;
pub const HTTP_PORT: u16 = 8042;
pub const CONFIG_DIR: &str = "/etc/orthanc-lab";
/// Where the PACS keeps its files and SQLite index: an in-memory file system, because the
/// container's own layer may sit on fuse-overlayfs, where every write and fsync crosses
/// FUSE (measured: 200 CT instances took 1.47 s there against 0.49 s on tmpfs). A lab's
/// store is small and lives as long as the run; evidence is taken through REST.
pub const STORAGE_DIR: &str = "/var/lib/orthanc/lab-db";
/// The tmpfs options of `STORAGE_DIR`: a bound, so a run that floods the PACS fills its
/// storage, not the host's memory. Memory is only used as files are written. Only its
/// owner (`ORTHANC_USER`, once `command` hands it over) reads it.
pub const STORAGE_TMPFS: &str = "size=4g,mode=0700";
/// The size in `STORAGE_TMPFS`, in bytes: a PACS's memory limit holds it (`limits`).
pub const STORAGE_BYTES: u64 = 4 << 30;
/// The account Orthanc runs as (Debian's package creates it; its uid differs by suite).
/// Not root: a lab's Lua (`os.execute`) runs as Orthanc, and must not be able to replace
/// the tools the engine runs as root inside the container to read the PACS's state.
pub const ORTHANC_USER: &str = "orthanc";
/// The engine's REST account, added wherever a lab turns authentication on, so state
/// snapshots work without weakening the lab.
pub const GRADER_USER: &str = "dicom-range-grader";

/// Orthanc's command line: the lab's configuration folder, INFO logging when `verbose`.
/// It starts as root only to hand the storage tmpfs to `ORTHANC_USER`, then becomes that
/// user for good (`setpriv`: no capabilities left, no setuid gain) and execs Orthanc, which
/// stays PID 1 and gets `docker stop`'s SIGTERM itself.
pub fn command(verbose: bool) -> Vec<String> {
    let mut cmd: Vec<String> = [
        "sh",
        "-c",
        "u=$1 d=$2; shift 2; chown \"$u:$u\" \"$d\" && exec setpriv --reuid=\"$u\" \
         --regid=\"$u\" --init-groups --no-new-privs -- \"$@\"",
        "orthanc-start",
        ORTHANC_USER,
        STORAGE_DIR,
        "Orthanc",
    ]
    .map(String::from)
    .to_vec();
    if verbose {
        cmd.push("--verbose".into());
    }
    cmd.push(format!("{CONFIG_DIR}/"));
    cmd
}

/// `grader_password`: the engine's REST account, added where authentication is on (none in
/// an exported compose project).
/// `tls`: Some(require client certificate) when the PACS speaks DICOM TLS, with its
/// certificate, key and the run's CA in `CONFIG_DIR` (server.pem, server.key, ca.pem).
pub fn config(
    node: &str,
    aet: &str,
    tls: Option<bool>,
    overrides: &BTreeMap<String, Value>,
    grader_password: Option<&str>,
) -> Value {
    let mut cfg = json!({
        "Name": format!("dicom-range {node}"),
        "DicomAet": aet,
        "DicomPort": DICOM_PORT,
        "HttpPort": HTTP_PORT,
        "StorageDirectory": STORAGE_DIR,
        "IndexDirectory": STORAGE_DIR,
        // REST answers on the container's own localhost only; the engine reads state
        // through `docker exec`, so probing never weakens the lab under test.
        "RemoteAccessAllowed": false,
        "HttpServerEnabled": true,
        "DicomServerEnabled": true,
        "StableAge": 2,
    });
    let map = cfg.as_object_mut().expect("object");
    if let Some(require_client_certificate) = tls {
        map.insert("DicomTlsEnabled".into(), json!(true));
        map.insert(
            "DicomTlsCertificate".into(),
            json!(format!("{CONFIG_DIR}/server.pem")),
        );
        map.insert(
            "DicomTlsPrivateKey".into(),
            json!(format!("{CONFIG_DIR}/server.key")),
        );
        map.insert(
            "DicomTlsTrustedCertificates".into(),
            json!(format!("{CONFIG_DIR}/ca.pem")),
        );
        map.insert(
            "DicomTlsRemoteCertificateRequired".into(),
            json!(require_client_certificate),
        );
    }
    for (k, v) in overrides {
        map.insert(k.clone(), v.clone());
    }
    // Orthanc asks for credentials when AuthenticationEnabled is true, or when it is unset
    // and remote access is allowed; then the grader needs an account of its own.
    let remote = map
        .get("RemoteAccessAllowed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let auth = map
        .get("AuthenticationEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(remote);
    if let Some(grader_password) = grader_password.filter(|_| auth) {
        let users = map.entry("RegisteredUsers").or_insert_with(|| json!({}));
        if let Some(users) = users.as_object_mut() {
            users.insert(GRADER_USER.into(), json!(grader_password));
        }
    }
    cfg
}

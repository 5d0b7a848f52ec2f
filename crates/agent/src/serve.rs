//! `serve`: a storage SCP on dicom-ul. It accepts associations proposing Verification or the
//! storage SOP classes in [`STORAGE_CLASSES`], answers C-ECHO, writes each C-STORE'd instance
//! into a folder as `<SOPInstanceUID>.dcm` (Part 10, data set bytes exactly as received), and
//! prints one JSON line per association. It is also the destination C-MOVE needs.
//!
//! Bounded: at most [`MAX_CONCURRENT`] associations at once, every read and write under the
//! timeout, PDUs within the maximum length it announced (dicom-ul's strict reads), each
//! command set and data set only as large as the bytes received and under
//! [`crate::bounds::MAX_COMMAND`] and `--max-dataset-mb` (default
//! [`crate::bounds::DEFAULT_MAX_DATASET`]); a larger one aborts the association. A data set
//! is walked by [`crate::bounds::check_dataset`] before it is written: one that lies about
//! a length or nests deeper than [`wire::MAX_NESTING`] is refused (status 0xC000, with the
//! reason), never stored for a parser to choke on later (so are Deflated data sets, which
//! cannot be walked). File names are made only from valid UIDs (digits and dots), so a
//! hostile SOP Instance UID cannot write outside the folder.

use crate::dimse::{self, MessageAssembler, command};
use crate::error::{AgentError, chain};
use dicom_dictionary_std::{tags, uids};
use dicom_ul::Pdu;
use dicom_ul::association::server::AsyncServerAssociation;
use dicom_ul::pdu::PresentationContextNegotiated;
use protocol::result::{self as out, tags as line_tags};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub use crate::storage::{STORAGE_CLASSES, safe_uid, write_part10};

/// Associations handled at the same time; more wait in the listen queue.
pub const MAX_CONCURRENT: usize = 32;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: String,
    pub port: u16,
    pub aet: String,
    /// Accept any called AE title (otherwise it must be `aet`).
    pub any_called: bool,
    pub out: PathBuf,
    /// Stop after this many associations (0: until the shutdown signal).
    pub max_associations: u64,
    pub timeout: Duration,
    /// When set, only associations whose A-ASSOCIATE-RQ carries this user identity
    /// (username and password, PS3.7 D.3.3.7) are accepted; others are rejected.
    pub require_user: Option<(String, String)>,
    /// The largest data set accepted in one message (bytes); larger aborts the association.
    pub max_dataset: usize,
}

/// The access rule of `serve`: the called AE title (unless any is accepted) and, if asked,
/// a username/password identity. It records the username seen, for the association's line.
#[derive(Debug, Clone)]
struct ServeAccess {
    any_called: bool,
    require_user: Option<(String, String)>,
    seen: Arc<std::sync::Mutex<Option<(String, bool)>>>,
}

impl dicom_ul::association::server::AccessControl for ServeAccess {
    fn check_access(
        &self,
        this_ae_title: &str,
        _calling_ae_title: &str,
        called_ae_title: &str,
        user_identity: Option<&dicom_ul::pdu::UserIdentity>,
    ) -> Result<(), dicom_ul::pdu::AssociationRJServiceUserReason> {
        use dicom_ul::pdu::{AssociationRJServiceUserReason as R, UserIdentityType};
        if !self.any_called && this_ae_title.trim() != called_ae_title.trim() {
            return Err(R::CalledAETitleNotRecognized);
        }
        let given = user_identity.map(|u| {
            let name = String::from_utf8_lossy(&u.primary_field()).into_owned();
            let password = match u.identity_type() {
                UserIdentityType::UsernamePassword => Some(u.secondary_field()),
                _ => None,
            };
            (name, password)
        });
        *self.seen.lock().unwrap() = given.as_ref().map(|(n, p)| (n.clone(), p.is_some()));
        match (&self.require_user, given) {
            (None, _) => Ok(()),
            (Some((name, password)), Some((n, Some(p))))
                if *name == n && password.as_bytes() == p.as_slice() =>
            {
                Ok(())
            }
            // PS3.8 has no "bad credentials" reason: service-user, no reason given.
            (Some(_), _) => Err(R::NoReasonGiven),
        }
    }
}

/// Listen and serve until `shutdown` resolves or `max_associations` were handled. `emit`
/// prints one JSON line: `{"event":"listening"}` first, then one per association.
pub async fn run(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
    emit: fn(&Value),
) -> Result<(), AgentError> {
    if opts.aet.trim().is_empty() || opts.aet.len() > 16 || !opts.aet.is_ascii() {
        return Err(AgentError::other(format!(
            "--aet '{}' is not a valid AE title: 1 to 16 ASCII characters",
            opts.aet
        )));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| {
        AgentError::other(format!(
            "cannot create the output folder {}: {e}",
            opts.out.display()
        ))
    })?;
    let listener = TcpListener::bind((opts.bind.as_str(), opts.port))
        .await
        .map_err(|e| {
            AgentError::other(format!(
                "cannot listen on {}:{}: {e}{}",
                opts.bind,
                opts.port,
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    " (another program uses this port)"
                } else {
                    ""
                }
            ))
        })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(opts.port);
    emit(&line(&out::ServeListening {
        aet: opts.aet.clone(),
        bind: opts.bind.clone(),
        event: line_tags::Listening,
        out: opts.out.display().to_string(),
        port,
    }));
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    let opts = Arc::new(opts);
    let mut tasks = tokio::task::JoinSet::new();
    let mut accepted = 0u64;
    tokio::pin!(shutdown);
    loop {
        if opts.max_associations > 0 && accepted >= opts.max_associations {
            break;
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore closed"),
            _ = &mut shutdown => break,
        };
        let (socket, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    emit(&line(&out::ErrorEvent {
                        error: format!("accept failed: {e}"),
                        event: line_tags::Error,
                        ok: None,
                    }));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        accepted += 1;
        let opts = opts.clone();
        tasks.spawn(async move {
            let v = handle(socket, addr.to_string(), &opts).await;
            emit(&line(&v));
            drop(permit);
        });
        // Reap finished handlers as we go.
        while tasks.try_join_next().is_some() {}
    }
    // Let running associations finish (each is bounded by its timeouts).
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// A result line as the `emit` callback takes it.
fn line<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("a result line serializes to JSON")
}

async fn handle(
    socket: tokio::net::TcpStream,
    peer: String,
    opts: &ServeOptions,
) -> out::ServeAssociation {
    let start = Instant::now();
    let _ = socket.set_nodelay(true);
    let mut v = out::ServeAssociation {
        peer,
        ..Default::default()
    };
    let mut sopts = dicom_ul::association::server::ServerAssociationOptions::new()
        .ae_title(opts.aet.clone())
        .read_timeout(opts.timeout)
        .write_timeout(opts.timeout)
        // a PDU longer than the maximum length announced is refused from its header
        .strict(true)
        .with_abstract_syntax(uids::VERIFICATION);
    for c in STORAGE_CLASSES {
        sopts = sopts.with_abstract_syntax(*c);
    }
    let access = ServeAccess {
        any_called: opts.any_called,
        require_user: opts.require_user.clone(),
        seen: Arc::default(),
    };
    let seen = access.seen.clone();
    let established = tokio::time::timeout(
        opts.timeout,
        sopts.ae_access_control(access).establish_async(socket),
    )
    .await;
    let user = seen.lock().unwrap().clone();
    if let Some((name, with_password)) = &user {
        v.user = Some(name.clone());
        v.user_password_given = Some(*with_password);
    }
    let mut a = match established {
        Err(_) => {
            v.error = Some("no A-ASSOCIATE-RQ within the timeout".into());
            return v;
        }
        Ok(Err(e)) => {
            let why = if opts.require_user.is_some() && user.is_none() {
                " (no user identity in the request: this SCP requires a username and password)"
            } else if opts.require_user.is_some() {
                " (wrong username or password, or the called AE title)"
            } else {
                ""
            };
            v.error = Some(format!("association not established: {}{why}", chain(&e)));
            return v;
        }
        Ok(Ok(a)) => a,
    };
    v.calling = Some(
        dicom_ul::association::Association::peer_ae_title(&a)
            .trim()
            .to_string(),
    );
    v.called = Some(opts.aet.clone());
    let mut stored = Vec::new();
    let mut echoes = 0u32;
    let r = serve_association(&mut a, opts, &mut stored, &mut echoes).await;
    v.echoes = Some(echoes);
    v.stored = Some(stored.len() as u64);
    v.instances = Some(stored);
    v.elapsed_ms = Some(start.elapsed().as_millis() as u64);
    match r {
        Ok(how) => {
            v.ok = true;
            v.ended = Some(how.to_string());
        }
        Err(e) => {
            let _ = tokio::time::timeout(Duration::from_secs(1), a.abort()).await;
            v.error = Some(e.to_string());
        }
    }
    v
}

fn ts_of(pcs: &[PresentationContextNegotiated], id: u8) -> Option<String> {
    pcs.iter()
        .find(|pc| pc.id == id)
        .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_string())
}

async fn serve_association(
    a: &mut AsyncServerAssociation<tokio::net::TcpStream>,
    opts: &ServeOptions,
    stored: &mut Vec<out::ReceivedInstance>,
    echoes: &mut u32,
) -> Result<&'static str, String> {
    let mut asm = MessageAssembler::new(opts.max_dataset, " (--max-dataset-mb)");
    loop {
        crate::socket::quickack(a.inner_stream());
        let pdu = a.receive().await.map_err(|e| chain(&e))?;
        let data = match pdu {
            Pdu::PData { data } => data,
            Pdu::ReleaseRQ => {
                a.send(&Pdu::ReleaseRP).await.map_err(|e| chain(&e))?;
                return Ok("released");
            }
            Pdu::AbortRQ { .. } => return Ok("aborted by the peer"),
            other => {
                return Err(format!(
                    "unexpected {} from the peer",
                    other.short_description()
                ));
            }
        };
        for m in asm.feed(data).map_err(|e| e.message)? {
            answer(a, opts, &m, stored, echoes).await?;
        }
    }
}

/// Answer one whole message (C-ECHO-RQ or C-STORE-RQ).
async fn answer(
    a: &mut AsyncServerAssociation<tokio::net::TcpStream>,
    opts: &ServeOptions,
    m: &dimse::Message,
    stored: &mut Vec<out::ReceivedInstance>,
    echoes: &mut u32,
) -> Result<(), String> {
    {
        let field = dimse::get_u16(&m.command, tags::COMMAND_FIELD).unwrap_or(0);
        let msg_id = dimse::get_u16(&m.command, tags::MESSAGE_ID).unwrap_or(0);
        let class = dimse::get_str(&m.command, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
        let rsp = match field {
            command::C_ECHO_RQ => {
                *echoes += 1;
                dimse::response(command::C_ECHO_RSP, msg_id, &class, None, 0x0000)
            }
            command::C_STORE_RQ => {
                let instance =
                    dimse::get_str(&m.command, tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default();
                let ts = ts_of(a.presentation_contexts(), m.pc_id).unwrap_or_default();
                let bytes = m.data.as_ref().map(|d| d.len()).unwrap_or(0);
                let (status, error) = if !safe_uid(&instance) {
                    (
                        0xC000,
                        Some(format!(
                            "refused: '{instance}' is not a valid SOP Instance UID"
                        )),
                    )
                } else if let Some(data) = &m.data {
                    match crate::bounds::check_dataset(data, &ts) {
                        Err(why) => (0xC000, Some(format!("refused, not written: {why}"))),
                        Ok(()) => match write_part10(&opts.out, &class, &instance, &ts, data) {
                            Ok(_) => (0x0000, None),
                            Err(e) => (0xA700, Some(e)),
                        },
                    }
                } else {
                    (0xC000, Some("C-STORE-RQ without a data set".to_string()))
                };
                stored.push(out::ReceivedInstance {
                    bytes: bytes as u64,
                    error,
                    file: None,
                    sop_class_uid: class.clone(),
                    sop_instance_uid: instance.clone(),
                    status,
                    transfer_syntax_uid: ts.clone(),
                });
                dimse::response(
                    command::C_STORE_RSP,
                    msg_id,
                    &class,
                    Some(&instance),
                    status,
                )
            }
            other => {
                return Err(format!(
                    "command 0x{other:04X} is not supported by this storage SCP"
                ));
            }
        };
        let pdu = dimse::command_pdu(m.pc_id, &rsp).map_err(|e| e.message)?;
        a.send(&pdu).await.map_err(|e| chain(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_uids_are_refused() {
        assert!(safe_uid("1.2.840.10008.5.1.4.1.1.2"));
        assert!(!safe_uid("../../etc/passwd"));
        assert!(!safe_uid("1..2"));
        assert!(!safe_uid(""));
        assert!(!safe_uid(&"1".repeat(65)));
    }

    #[test]
    fn part10_written_reads_back() {
        let dir = std::env::temp_dir().join(format!("agent-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = crate::synth::StudySpec {
            rows: 16,
            cols: 16,
            ..Default::default()
        };
        let inst = &crate::synth::generate(&spec).unwrap()[0];
        let data = inst.encode_dataset().unwrap();
        let p = write_part10(
            &dir,
            &inst.sop_class_uid,
            &inst.sop_instance_uid,
            inst.transfer_syntax_uid,
            &data,
        )
        .unwrap();
        let obj = dicom_object::open_file(&p).unwrap();
        assert_eq!(
            obj.element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap(),
            inst.sop_instance_uid
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! C-STORE: instances streamed from a bounded channel over one or more associations.

use super::*;

/// The outcome of one C-STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreResult {
    /// Position of the instance in the study or file list (0-based).
    pub index: usize,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub status: u16,
    /// Size of the data set as sent (encoded in the negotiated transfer syntax).
    pub bytes: usize,
    /// Which association carried it (0-based).
    pub association: usize,
    /// The first frame's fingerprint as sent, when known ([`Outgoing::pixel_sha256`]).
    pub pixel_sha256: Option<String>,
}

/// The result of [`store`] and [`store_stream`]: what was stored before any error.
#[derive(Debug, Default)]
pub struct StoreReport {
    /// In instance order.
    pub results: Vec<StoreResult>,
    pub error: Option<AgentError>,
    pub tls: Option<TlsInfo>,
    /// Associations that were established.
    pub associations: usize,
    /// Extra associations that did not come up while others did the work (a PACS that
    /// serves one association at a time, or caps them): said, not fatal.
    pub warnings: Vec<String>,
}

/// The data set of one instance to send.
#[derive(Debug)]
pub enum Body {
    /// Already encoded in the item's transfer syntax.
    Bytes(Vec<u8>),
    /// A DICOM Part 10 file whose data set starts at `offset` (after the file meta group):
    /// copied from disk into the P-DATA writer in chunks.
    File { path: PathBuf, offset: u64 },
}

/// One instance to send, produced lazily.
#[derive(Debug)]
pub struct Outgoing {
    pub index: usize,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax_uid: String,
    pub body: Body,
    /// The first frame's fingerprint ([`crate::pixels::first_frame_sha256`]), known for
    /// generated instances: what the PACS's copy is compared with.
    pub pixel_sha256: Option<String>,
}

impl Outgoing {
    /// Encode a generated instance in its own transfer syntax.
    pub fn from_instance(index: usize, inst: &Instance) -> Result<Outgoing, AgentError> {
        Ok(Outgoing {
            index,
            sop_class_uid: inst.sop_class_uid.clone(),
            sop_instance_uid: inst.sop_instance_uid.clone(),
            transfer_syntax_uid: inst.transfer_syntax_uid.to_string(),
            body: Body::Bytes(inst.encode_dataset()?),
            pixel_sha256: crate::pixels::first_frame_sha256(&inst.dataset),
        })
    }
}

/// The transfer syntaxes to propose for data sets encoded in `ts`: the same one, and for
/// native encodings also Implicit VR LE (the one every SCP must accept; we then re-encode).
pub fn proposed_syntaxes(ts: &str) -> Vec<String> {
    if ts == uids::EXPLICIT_VR_LITTLE_ENDIAN {
        vec![ts.to_string(), uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string()]
    } else {
        vec![ts.to_string()]
    }
}

/// The presentation contexts for a set of (SOP class, transfer syntax) pairs.
pub fn store_contexts<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, Vec<String>)> {
    let mut contexts: Vec<(String, Vec<String>)> = Vec::new();
    for (class, ts) in pairs {
        let pair = (class.to_string(), proposed_syntaxes(ts));
        if !contexts.contains(&pair) {
            contexts.push(pair);
        }
    }
    contexts
}

/// Where instances come from: a bounded channel filled by a producer.
pub type Source = mpsc::Receiver<Result<Outgoing, AgentError>>;

pub(super) async fn send_body<S>(
    a: &mut AsyncClientAssociation<S>,
    pc: u8,
    item: &Outgoing,
    negotiated_ts: &str,
) -> Result<usize, AgentError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let io = |e: std::io::Error| {
        AgentError::new(
            if is_timeout_text(&e.to_string()) {
                FailureKind::Unreachable
            } else {
                FailureKind::Other
            },
            format!(
                "sending instance {} to the peer failed: {e}",
                item.sop_instance_uid
            ),
        )
    };
    let same_ts = negotiated_ts == item.transfer_syntax_uid;
    match (&item.body, same_ts) {
        (Body::Bytes(bytes), true) => {
            let mut w = a.send_pdata(pc);
            w.write_all(bytes).await.map_err(io)?;
            // The writer buffers the last PDU: without finish() it is never sent.
            w.finish().await.map_err(io)?;
            Ok(bytes.len())
        }
        (Body::File { path, offset }, true) => {
            let mut f = tokio::fs::File::open(path)
                .await
                .map_err(|e| AgentError::other(format!("cannot open {}: {e}", path.display())))?;
            f.seek(std::io::SeekFrom::Start(*offset))
                .await
                .map_err(|e| AgentError::other(format!("cannot read {}: {e}", path.display())))?;
            let mut w = a.send_pdata(pc);
            let n = tokio::io::copy(
                &mut tokio::io::BufReader::with_capacity(256 * 1024, f),
                &mut w,
            )
            .await
            .map_err(io)?;
            w.finish().await.map_err(io)?;
            Ok(n as usize)
        }
        (body, false) => {
            // The peer took another (native) transfer syntax: decode and re-encode.
            let obj = match body {
                Body::Bytes(b) => dimse::parse_dataset(b, &item.transfer_syntax_uid)?,
                Body::File { path, .. } => dicom_object::open_file(path)
                    .map_err(|e| AgentError::other(format!("cannot read {}: {e}", path.display())))?
                    .into_inner(),
            };
            let bytes = dimse::encode_dataset(&obj, negotiated_ts)?;
            let mut w = a.send_pdata(pc);
            w.write_all(&bytes).await.map_err(io)?;
            w.finish().await.map_err(io)?;
            Ok(bytes.len())
        }
    }
}

pub(super) async fn store_worker<S>(
    a: &mut AsyncClientAssociation<S>,
    peer: &Peer,
    association: usize,
    source: &Mutex<Source>,
    results: &std::sync::Mutex<Vec<StoreResult>>,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let mut message_id: u16 = 0;
    let mut inbox = Inbox::new();
    loop {
        let next = { source.lock().await.recv().await };
        let item = match next {
            None => return Ok(()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(i)) => i,
        };
        message_id = message_id.wrapping_add(1).max(1);
        let pcs = a.presentation_contexts();
        let (pc, ts_uid) = pcs
            .iter()
            .find(|pc| {
                pc.reason == PresentationContextResultReason::Acceptance
                    && pc.abstract_syntax.trim_end_matches('\0') == item.sop_class_uid
                    && proposed_syntaxes(&item.transfer_syntax_uid)
                        .iter()
                        .any(|t| t == pc.transfer_syntax.trim_end_matches('\0'))
            })
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
            .ok_or_else(|| {
                let why = pcs
                    .iter()
                    .find(|pc| pc.abstract_syntax.trim_end_matches('\0') == item.sop_class_uid)
                    .map(|pc| format!("{:?}", pc.reason))
                    .unwrap_or_else(|| "not in the answer".into());
                AgentError::refused(format!(
                    "the peer did not accept SOP class {} in transfer syntax {} ({why})",
                    item.sop_class_uid, item.transfer_syntax_uid
                ))
            })?;
        send_command(
            a,
            pc,
            &dimse::store_rq(message_id, &item.sop_class_uid, &item.sop_instance_uid),
        )
        .await?;
        let bytes = tokio::time::timeout(peer.timeout, send_body(a, pc, &item, &ts_uid))
            .await
            .map_err(|_| {
                timeout_error(peer, &format!("sending instance {}", item.sop_instance_uid))
            })??;
        let (status, responding) = receive_response(a, &mut inbox).await?;
        if responding != 0 && responding != message_id {
            return Err(AgentError::other(format!(
                "the peer answered message {responding} while message {message_id} was expected"
            ))
            .into());
        }
        results.lock().unwrap().push(StoreResult {
            index: item.index,
            sop_instance_uid: item.sop_instance_uid,
            sop_class_uid: item.sop_class_uid,
            status,
            bytes,
            association,
            pixel_sha256: item.pixel_sha256,
        });
    }
}

/// C-STORE everything `source` yields over `associations` parallel associations (at least
/// one), each proposing `contexts`. An association stops at its first transport or
/// association error (the others go on); DIMSE failure statuses are recorded and sending
/// goes on. The first error is reported.
pub async fn store_stream(
    peer: &Peer,
    contexts: &[(String, Vec<String>)],
    source: Source,
    associations: usize,
) -> StoreReport {
    let source = Arc::new(Mutex::new(source));
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..associations.max(1) {
        let (peer, contexts, source, results) = (
            peer.clone(),
            contexts.to_vec(),
            source.clone(),
            results.clone(),
        );
        tasks.spawn(async move {
            let conn = match connect(&peer, &contexts).await {
                Ok(c) => c,
                // If no association comes up, the source is dropped on return and the
                // producer stops.
                Err(e) => return (n, Err(e), None, false),
            };
            let info = conn.tls.clone();
            let r = run_then_release!(conn, &peer, a =>
                store_worker(&mut a, &peer, n, &source, &results).await);
            (n, r, info, true)
        });
    }
    let mut report = StoreReport::default();
    let mut errors: Vec<(usize, AgentError)> = Vec::new();
    let mut not_established: Vec<(usize, AgentError)> = Vec::new();
    while let Some(j) = tasks.join_next().await {
        match j {
            Ok((n, r, info, established)) => {
                if established {
                    report.associations += 1;
                }
                if report.tls.is_none() {
                    report.tls = info;
                }
                match r {
                    Err(e) if established => errors.push((n, e)),
                    Err(e) => not_established.push((n, e)),
                    Ok(()) => {}
                }
            }
            Err(e) => errors.push((usize::MAX, AgentError::other(format!("a task failed: {e}")))),
        }
    }
    // An association that never came up is the whole story only when none did; otherwise
    // the others carried its share, and whether every instance went is checked by count.
    not_established.sort_by_key(|(n, _)| *n);
    if report.associations == 0 {
        errors.extend(not_established);
    } else {
        report.warnings = not_established
            .into_iter()
            .map(|(n, e)| {
                format!(
                    "association {} of {associations} did not come up: {e}",
                    n + 1
                )
            })
            .collect();
    }
    errors.sort_by_key(|(n, _)| *n);
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|r| r.index);
    report.error = errors.into_iter().next().map(|(_, e)| e).or_else(|| {
        results.iter().find(|r| !status_is_ok(r.status)).map(|r| {
            AgentError::refused(format!(
                "the peer refused instance {}: status 0x{:04X} ({})",
                r.sop_instance_uid,
                r.status,
                status_name(r.status)
            ))
        })
    });
    report.results = results;
    report
}

/// C-STORE every instance over one association (one presentation context per SOP class and
/// transfer syntax), then release.
pub async fn store(peer: &Peer, instances: &[Instance]) -> StoreReport {
    let contexts = store_contexts(
        instances
            .iter()
            .map(|i| (i.sop_class_uid.as_str(), i.transfer_syntax_uid)),
    );
    let (tx, rx) = mpsc::channel(instances.len().max(1));
    for (n, i) in instances.iter().enumerate() {
        let _ = tx.send(Outgoing::from_instance(n, i)).await;
    }
    drop(tx);
    store_stream(peer, &contexts, rx, 1).await
}

// ---------------------------------------------------------------------------------------
// C-FIND

//! C-MOVE and C-GET: the sub-operation counts, and for C-GET the instances stored back
//! on the same association.

use super::*;

/// How the matches of a retrieve come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrieveMode {
    /// C-MOVE: the peer opens its own association to this AE title (which it must know,
    /// e.g. in Orthanc's `DicomModalities`) and C-STOREs the matches there.
    Move { destination: String },
    /// C-GET: the peer C-STOREs the matches back on our association; we write them into
    /// this folder as `<SOPInstanceUID>.dcm`.
    Get { out: PathBuf },
}

/// A C-MOVE or C-GET request: level and keys (unique keys such as StudyInstanceUID).
#[derive(Debug, Clone)]
pub struct RetrieveQuery {
    pub level: FindLevel,
    pub keys: Vec<(Tag, String)>,
    pub mode: RetrieveMode,
}

/// Sub-operation counts of a retrieve, as the peer last reported them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SubOps {
    pub remaining: u16,
    pub completed: u16,
    pub failed: u16,
    pub warning: u16,
}

/// The result of [`retrieve`].
#[derive(Debug, Default)]
pub struct RetrieveReport {
    /// The final status (0 success; 0xB000 some sub-operations failed).
    pub status: Option<u16>,
    pub subops: SubOps,
    /// Pending responses read before the final one.
    pub pending: u32,
    /// C-GET: each instance received (UIDs, transfer syntax, bytes, file).
    pub received: Vec<protocol::result::ReceivedInstance>,
    pub error: Option<AgentError>,
    pub tls: Option<TlsInfo>,
}

impl FindLevel {
    /// The C-MOVE information model for this level (Patient Root for patient, else Study Root).
    pub fn move_class(self) -> &'static str {
        match self {
            FindLevel::Patient => uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
            _ => uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
        }
    }

    /// The C-GET information model for this level.
    pub fn get_class(self) -> &'static str {
        match self {
            FindLevel::Patient => uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
            _ => uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
        }
    }
}

/// The identifier of a retrieve: the level and the keys given, nothing else.
pub fn retrieve_identifier(level: FindLevel, keys: &[(Tag, String)]) -> InMemDicomObject {
    let mut obj = find_identifier(&FindQuery {
        level,
        keys: keys.to_vec(),
        limit: 1,
    });
    // Return keys make no sense in a retrieve: keep the level and the keys given.
    let given: Vec<Tag> = keys.iter().map(|(t, _)| *t).collect();
    let drop: Vec<Tag> = obj
        .iter()
        .map(|e| e.header().tag)
        .filter(|t| *t != tags::QUERY_RETRIEVE_LEVEL && !given.contains(t))
        .collect();
    for t in drop {
        obj.remove_element(t);
    }
    obj
}

/// The transfer syntaxes proposed in each native storage context of a C-GET.
pub(super) const GET_SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

pub(super) fn subops_of(cmd: &InMemDicomObject, prev: SubOps) -> SubOps {
    let g = |t| dimse::get_u16(cmd, t);
    SubOps {
        remaining: g(tags::NUMBER_OF_REMAINING_SUBOPERATIONS).unwrap_or(0),
        completed: g(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS).unwrap_or(prev.completed),
        failed: g(tags::NUMBER_OF_FAILED_SUBOPERATIONS).unwrap_or(prev.failed),
        warning: g(tags::NUMBER_OF_WARNING_SUBOPERATIONS).unwrap_or(prev.warning),
    }
}

/// Answer one C-STORE sub-operation of a C-GET: write the instance, reply with a status.
pub(super) async fn store_subop<S>(
    a: &mut AsyncClientAssociation<S>,
    m: &Message,
    out: &std::path::Path,
    report: &mut RetrieveReport,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let msg_id = dimse::get_u16(&m.command, tags::MESSAGE_ID).unwrap_or(0);
    let class = dimse::get_str(&m.command, tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
    let instance = dimse::get_str(&m.command, tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default();
    let ts = a
        .presentation_contexts()
        .iter()
        .find(|pc| pc.id == m.pc_id)
        .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_string())
        .unwrap_or_default();
    let bytes = m.data.as_ref().map(|d| d.len()).unwrap_or(0);
    let (status, file, error) = if !crate::storage::safe_uid(&instance) {
        (
            0xC000,
            None,
            Some(format!(
                "'{instance}' is not a valid SOP Instance UID: not written"
            )),
        )
    } else if let Some(data) = &m.data {
        // Walked first, as `serve` does: a file written here must be safe to parse later.
        match crate::bounds::check_dataset(data, &ts) {
            Err(why) => (0xC000, None, Some(format!("refused, not written: {why}"))),
            Ok(()) => match crate::storage::write_part10(out, &class, &instance, &ts, data) {
                Ok(p) => (0x0000, Some(p.display().to_string()), None),
                Err(e) => (0xA700, None, Some(e)),
            },
        }
    } else {
        (0xC000, None, Some("C-STORE-RQ without a data set".into()))
    };
    report.received.push(protocol::result::ReceivedInstance {
        bytes: bytes as u64,
        error,
        file,
        sop_class_uid: class.clone(),
        sop_instance_uid: instance.clone(),
        status,
        transfer_syntax_uid: ts.clone(),
    });
    let rsp = dimse::response(
        command::C_STORE_RSP,
        msg_id,
        &class,
        Some(&instance),
        status,
    );
    send_command(a, m.pc_id, &rsp).await
}

pub(super) async fn retrieve_on<S>(
    a: &mut AsyncClientAssociation<S>,
    q: &RetrieveQuery,
    report: &mut RetrieveReport,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let (class, rsp_field, what) = match &q.mode {
        RetrieveMode::Move { .. } => (q.level.move_class(), command::C_MOVE_RSP, "C-MOVE"),
        RetrieveMode::Get { .. } => (q.level.get_class(), command::C_GET_RSP, "C-GET"),
    };
    let (pc, ts) = dimse::accepted_pc(a.presentation_contexts(), class).ok_or_else(|| {
        AgentError::refused(format!(
            "the peer did not accept the {what} information model {class} (retrieve is off, \
             or this AE may not retrieve)"
        ))
    })?;
    let cmd = match &q.mode {
        RetrieveMode::Move { destination } => dimse::move_rq(1, class, destination),
        RetrieveMode::Get { .. } => dimse::get_rq(1, class),
    };
    send_command(a, pc, &cmd).await?;
    let ident = dimse::encode_dataset(&retrieve_identifier(q.level, &q.keys), &ts)?;
    {
        let mut w = a.send_pdata(pc);
        let io = |e: std::io::Error| AgentError::other(format!("sending the request failed: {e}"));
        w.write_all(&ident).await.map_err(io)?;
        w.finish().await.map_err(io)?;
    }
    let mut inbox = Inbox::new();
    // Bounded: every read is under the timeout, and a peer cannot send more responses than
    // this without the loop giving up.
    for _ in 0..1_000_000u32 {
        let m = receive_message(a, &mut inbox).await?;
        let field = dimse::get_u16(&m.command, tags::COMMAND_FIELD).unwrap_or(0);
        if field == command::C_STORE_RQ {
            let RetrieveMode::Get { out } = &q.mode else {
                return Err(AgentError::other(
                    "the peer sent a C-STORE on a C-MOVE association (it should open its own)",
                )
                .into());
            };
            store_subop(a, &m, out, report).await?;
            continue;
        }
        if field != rsp_field {
            return Err(AgentError::other(format!(
                "the peer answered {what} with command 0x{field:04X}"
            ))
            .into());
        }
        let status = dimse::get_u16(&m.command, tags::STATUS)
            .ok_or_else(|| AgentError::other(format!("a {what} response has no Status")))?;
        report.subops = subops_of(&m.command, report.subops);
        if status == 0xFF00 || status == 0xFF01 {
            report.pending += 1;
            continue;
        }
        report.status = Some(status);
        return Ok(());
    }
    Err(AgentError::other(format!("the peer never ended the {what}")).into())
}

/// One C-MOVE or C-GET on one association. For C-GET, every storage SOP class `serve`
/// knows is proposed with the SCP role, so the peer can C-STORE back on this association.
pub async fn retrieve(peer: &Peer, q: &RetrieveQuery) -> RetrieveReport {
    let class = match &q.mode {
        RetrieveMode::Move { .. } => q.level.move_class(),
        RetrieveMode::Get { .. } => q.level.get_class(),
    };
    let mut contexts = vec![(
        class.to_string(),
        vec![
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
        ],
    )];
    let mut roles = Vec::new();
    let mut report = RetrieveReport::default();
    if let RetrieveMode::Get { out } = &q.mode {
        if let Err(e) = std::fs::create_dir_all(out) {
            report.error = Some(AgentError::other(format!(
                "cannot create {}: {e}",
                out.display()
            )));
            return report;
        }
        for c in crate::storage::STORAGE_CLASSES {
            contexts.push((
                c.to_string(),
                GET_SYNTAXES.iter().map(|t| t.to_string()).collect(),
            ));
            // JPEG Baseline in its own context, so an instance stored that way can come back
            // unchanged when the peer prefers not to transcode.
            contexts.push((c.to_string(), vec![uids::JPEG_BASELINE8_BIT.to_string()]));
            roles.push(c.to_string());
        }
    }
    let conn = match connect_with_roles(peer, &contexts, &roles).await {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.tls = conn.tls.clone();
    let r = run_then_release!(conn, peer, a => retrieve_on(&mut a, q, &mut report).await);
    let what = match q.mode {
        RetrieveMode::Move { .. } => "C-MOVE",
        RetrieveMode::Get { .. } => "C-GET",
    };
    report.error = match r {
        Err(e) => Some(e),
        Ok(()) => match report.status {
            Some(0) => None,
            Some(s) => Some(AgentError::refused(format!(
                "the peer ended the {what} with status 0x{s:04X} ({}): {} completed, {} \
                 failed, {} warning{}",
                retrieve_status_name(s),
                report.subops.completed,
                report.subops.failed,
                report.subops.warning,
                match (&q.mode, s) {
                    (RetrieveMode::Move { .. }, 0xA801 | 0xC000) => {
                        "; is the destination AE title in the PACS's list of modalities \
                         (Orthanc: DicomModalities, with the host and port it listens on)?"
                    }
                    _ => "",
                }
            ))),
            None => None,
        },
    };
    report
}

/// Status names specific to C-MOVE and C-GET (PS3.4 C.4.2.1.5, C.4.3.1.4).
pub fn retrieve_status_name(status: u16) -> &'static str {
    match status {
        0xA701 | 0xA702 => "Refused: out of resources (sub-operations)",
        0xA801 => "Refused: move destination unknown",
        0xB000 => "Warning: sub-operations complete, one or more failures",
        s => status_name(s),
    }
}

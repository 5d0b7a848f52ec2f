//! One association, plain or TLS: connecting with the proposed contexts, socket tuning
//! (`TCP_NODELAY`, `TCP_QUICKACK`), sending a command and reading PDUs into whole messages
//! within the negotiated bounds.

use super::*;

pub(super) struct Conn {
    pub(super) assoc: Assoc,
    pub(super) tls: Option<TlsInfo>,
    pub(super) tls_ctx: Option<TlsCtx>,
}

/// Open an association proposing `contexts` (abstract syntax, transfer syntaxes).
pub(super) async fn connect(
    peer: &Peer,
    contexts: &[(String, Vec<String>)],
) -> Result<Conn, AgentError> {
    connect_with_roles(peer, contexts, &[]).await
}

/// Open an association; for each SOP class in `scp_roles` we also propose the SCP role
/// (SCP/SCU role selection, PS3.7 D.3.3.4), which C-GET needs to receive its C-STOREs.
pub(super) async fn connect_with_roles(
    peer: &Peer,
    contexts: &[(String, Vec<String>)],
    scp_roles: &[String],
) -> Result<Conn, AgentError> {
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(peer.calling.clone())
        .called_ae_title(peer.called.clone())
        .connection_timeout(peer.timeout)
        .read_timeout(peer.timeout)
        .write_timeout(peer.timeout);
    for (abstract_syntax, ts) in contexts {
        opts = opts.with_presentation_context(abstract_syntax.clone(), ts.clone());
    }
    for class in scp_roles {
        opts = opts.with_role_selection(class.clone(), false, true);
    }
    if let Some(u) = &peer.user {
        opts = match &u.password {
            Some(p) => opts.username_password(u.username.clone(), p.clone()),
            None => opts.username(u.username.clone()),
        };
    }
    // The whole establishment (TCP, TLS handshake, A-ASSOCIATE) is bounded too.
    let bound = peer.timeout * 2 + Duration::from_secs(1);
    match &peer.transport {
        Transport::Plain => {
            let mut a = tokio::time::timeout(bound, opts.establish_async(peer.addr()))
                .await
                .map_err(|_| timeout_error(peer, "establishing the association"))?
                .map_err(|e| classify(e, peer, None))?;
            // Best effort: a failure here costs speed, not correctness.
            let _ = a.inner_stream().set_nodelay(true);
            Ok(Conn {
                assoc: Assoc::Plain(a),
                tls: None,
                tls_ctx: None,
            })
        }
        Transport::Tls(t) => {
            let server_name = t.name_for(&peer.host);
            TlsClient::check_name(&server_name)?;
            let (cfg, asked) = t.config()?;
            let ctx = TlsCtx {
                server_name: server_name.clone(),
                asked,
                have_cert: t.has_client_cert(),
            };
            let fut = opts
                .tls_config(cfg)
                .server_name(&server_name)
                .establish_tls_async(peer.addr());
            let mut a = tokio::time::timeout(bound, fut)
                .await
                .map_err(|_| timeout_error(peer, "establishing the TLS association"))?
                .map_err(|e| classify(e, peer, Some(&ctx)))?;
            let _ = a.inner_stream().get_ref().0.set_nodelay(true);
            let info = TlsInfo::of(a.inner_stream().get_ref().1, t.has_client_cert());
            Ok(Conn {
                assoc: Assoc::Tls(a),
                tls: Some(info),
                tls_ctx: Some(ctx),
            })
        }
    }
}

pub(super) async fn send_command<S>(
    a: &mut AsyncClientAssociation<S>,
    pc_id: u8,
    cmd: &InMemDicomObject,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    a.send(&dimse::command_pdu(pc_id, cmd)?).await?;
    Ok(())
}

/// Read one PDU straight from the association's stream, re-arming `TCP_QUICKACK` after every
/// read.
///
/// Why not `receive()`: a peer without `TCP_NODELAY` (DCMTK, so stock Orthanc) writes a
/// response as a 12-byte P-DATA/PDV header and then the 138-byte command set; Nagle holds the
/// second write until the first is acknowledged. Linux delays that ACK by up to 40 ms whenever
/// the connection looks interactive ("pingpong" mode), which it re-enters while our last data
/// segments are still leaving the send queue, so arming the flag before the wait is not
/// enough (measured: 1 response in 4 stalled 43 ms). Setting it right after a read that
/// consumed the header sends the pending ACK at once. dicom-ul's own `receive()` reads inside
/// the crate, where no option can be set between two reads.
///
/// `rb` is this association's receive buffer: bytes past the PDU stay there for the
/// next call. The crate's internal buffer is empty whenever this is used (the peer sends
/// nothing between our requests), and `release()` later reads through the crate again.
///
/// Strict: a PDU announcing more than the maximum length we proposed is refused from its
/// header, so the buffer never holds more than one PDU of that length (plus one read).
pub(super) async fn read_pdu_quickack<S>(
    a: &mut AsyncClientAssociation<S>,
    rb: &mut Vec<u8>,
) -> Result<Pdu, UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    use tokio::io::AsyncReadExt;
    let max_pdu = a.requestor_max_pdu_length();
    let wait = a.read_timeout().unwrap_or(Duration::from_secs(30));
    loop {
        let mut cur = std::io::Cursor::new(&rb[..]);
        match dicom_ul::pdu::read_pdu(&mut cur, max_pdu, true) {
            Ok(Some(pdu)) => {
                let used = cur.position() as usize;
                rb.drain(..used);
                return Ok(pdu);
            }
            Ok(None) => {}
            Err(e) => {
                let why = match rb.get(2..6) {
                    Some(l) if u32::from_be_bytes([l[0], l[1], l[2], l[3]]) > max_pdu => format!(
                        "the peer sent a PDU of {} bytes, over the maximum length of {max_pdu} \
                         we proposed: refused",
                        u32::from_be_bytes([l[0], l[1], l[2], l[3]])
                    ),
                    _ => format!("the peer sent a PDU that cannot be decoded: {}", chain(&e)),
                };
                return Err(AgentError::other(why).into());
            }
        }
        let s = a.inner_stream();
        let mut chunk = [0u8; 64 * 1024];
        let n = match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Err(_) => {
                return Err(AgentError::unreachable(format!(
                    "no answer from the peer within {} s (timeout)",
                    wait.as_secs_f64()
                ))
                .into());
            }
            Ok(Err(e)) => {
                return Err(AgentError::other(format!("reading from the peer failed: {e}")).into());
            }
            Ok(Ok(n)) => n,
        };
        quickack(s);
        if n == 0 {
            return Err(AgentError::other(
                "the peer closed the connection while we waited for a response",
            )
            .into());
        }
        rb.extend_from_slice(&chunk[..n]);
    }
}

/// What one association has received and not yet handed over: bytes past the last PDU,
/// the message being assembled, and whole messages a PDU completed after the one returned.
pub(super) struct Inbox {
    pub(super) rb: Vec<u8>,
    pub(super) asm: MessageAssembler,
    pub(super) ready: std::collections::VecDeque<Message>,
}

impl Inbox {
    pub(super) fn new() -> Inbox {
        Inbox {
            rb: Vec::with_capacity(64 * 1024),
            asm: MessageAssembler::default(),
            ready: Default::default(),
        }
    }
}

/// Receive one whole DIMSE message (command set and any data set).
pub(super) async fn receive_message<S>(
    a: &mut AsyncClientAssociation<S>,
    inbox: &mut Inbox,
) -> Result<Message, UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    loop {
        if let Some(m) = inbox.ready.pop_front() {
            return Ok(m);
        }
        quickack(a.inner_stream());
        match read_pdu_quickack(a, &mut inbox.rb).await? {
            Pdu::PData { data } => {
                let done = inbox.asm.feed(data)?;
                inbox.ready.extend(done);
            }
            Pdu::AbortRQ { source } => {
                return Err(AgentError::refused(format!(
                    "the peer aborted the association (A-ABORT, source {source:?})"
                ))
                .into());
            }
            Pdu::ReleaseRQ => {
                return Err(AgentError::other(
                    "the peer asked to release the association while we waited for a response",
                )
                .into());
            }
            other => {
                return Err(AgentError::other(format!(
                    "unexpected {} from the peer while waiting for a response",
                    other.short_description()
                ))
                .into());
            }
        }
    }
}

/// Receive a response and return its status and the message id it responds to.
pub(super) async fn receive_response<S>(
    a: &mut AsyncClientAssociation<S>,
    inbox: &mut Inbox,
) -> Result<(u16, u16), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let m = receive_message(a, inbox).await?;
    let status = dimse::get_u16(&m.command, tags::STATUS)
        .ok_or_else(|| AgentError::other("the peer's response has no Status (0000,0900)"))?;
    let responding = dimse::get_u16(&m.command, tags::MESSAGE_ID_BEING_RESPONDED_TO).unwrap_or(0);
    Ok((status, responding))
}

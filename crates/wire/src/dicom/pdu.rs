//! PDUs and DIMSE messages turned into events, association summaries and PHI seen.

use super::{Analyzer, AssocState, Here, MAX_COMMAND_BYTES};
use crate::dataset;
use crate::names::{command_name, sop_class_name, status_name};
use crate::{Dimse, Event, IssueKind, MAX_DATASET_BYTES, PhiSeen, Sink};
use dicom_ul::pdu::{
    AbortRQSource, AssociationRJResult, PDataValueType, Pdu, PresentationContextResultReason,
};

impl<'s, S: Sink> Analyzer<'s, S> {
    pub(super) fn event(
        &self,
        ci: usize,
        d: usize,
        here: &Here,
        pdu: &str,
        label: String,
        info: String,
    ) -> Event {
        let (src, dst) = self.dir_name(ci, d);
        Event {
            time: here.time,
            rel_time: here.rel,
            stream: self.conns[ci].index,
            src,
            dst,
            pdu: pdu.into(),
            label,
            info,
            calling_aet: None,
            called_aet: None,
            dimse: None,
            packet: here.no,
            pdu_offset: 0,
        }
    }

    pub(super) fn emit(&mut self, mut e: Event, offset: u64) {
        e.pdu_offset = offset;
        self.out.event(e);
    }

    /// The association is over: its buffers are no longer needed.
    pub(super) fn release(&mut self, ci: usize) {
        for dir in &mut self.conns[ci].dirs {
            dir.release_buffers();
        }
    }

    /// Account one complete PDU of `total` bytes in the association summary.
    pub(super) fn count_pdu(&mut self, ci: usize, d: usize, ty: u8, total: u64, here: &Here) {
        if ty == 1 {
            // an A-ASSOCIATE-RQ starts a new association
            self.end_association(ci, "superseded by a new A-ASSOCIATE-RQ", here.time);
            self.conns[ci].assoc = Some(AssocState::new(d, here.time, false));
        }
        let c = &mut self.conns[ci];
        let a = c
            .assoc
            .get_or_insert_with(|| AssocState::new(d, here.time, true));
        a.end = here.time;
        a.bytes[d] += total;
        a.pdus[d] += 1;
        a.pdu_counts[usize::from(ty - 1)] += 1;
    }

    pub(super) fn on_pdu(&mut self, ci: usize, d: usize, pdu: Pdu, offset: u64, here: &Here) {
        match pdu {
            Pdu::AssociationRQ(rq) => {
                let c = &mut self.conns[ci];
                c.calling = Some(rq.calling_ae_title.clone());
                c.called = Some(rq.called_ae_title.clone());
                c.proposed = rq
                    .presentation_contexts
                    .iter()
                    .map(|pc| (pc.id, pc.abstract_syntax.clone()))
                    .collect();
                c.accepted.clear();
                let mut e = self.event(
                    ci,
                    d,
                    here,
                    "A-ASSOCIATE-RQ",
                    "A-ASSOCIATE-RQ".into(),
                    format!(
                        "A-ASSOCIATE request {} --> {}",
                        rq.calling_ae_title, rq.called_ae_title
                    ),
                );
                e.calling_aet = Some(rq.calling_ae_title);
                e.called_aet = Some(rq.called_ae_title);
                e.pdu_offset = offset;
                self.out.event(e);
            }
            Pdu::AssociationAC(ac) => {
                self.conns[ci].accepted = ac
                    .presentation_contexts
                    .iter()
                    .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
                    .map(|pc| (pc.id, pc.transfer_syntax.clone()))
                    .collect();
                let mut e = self.event(
                    ci,
                    d,
                    here,
                    "A-ASSOCIATE-AC",
                    "A-ASSOCIATE-AC".into(),
                    "A-ASSOCIATE accept".into(),
                );
                e.calling_aet = Some(ac.calling_ae_title);
                e.called_aet = Some(ac.called_ae_title);
                e.pdu_offset = offset;
                self.out.event(e);
            }
            Pdu::AssociationRJ(rj) => {
                let result = match rj.result {
                    AssociationRJResult::Permanent => "rejected-permanent",
                    AssociationRJResult::Transient => "rejected-transient",
                };
                let mut e = self.event(
                    ci,
                    d,
                    here,
                    "A-ASSOCIATE-RJ",
                    "A-ASSOCIATE-RJ".into(),
                    format!("A-ASSOCIATE reject ({result}, {:?})", rj.source),
                );
                e.calling_aet = self.conns[ci].calling.clone();
                e.called_aet = self.conns[ci].called.clone();
                e.pdu_offset = offset;
                self.out.event(e);
                self.end_association(ci, "rejected", here.time);
                self.release(ci);
            }
            Pdu::PData { data } => self.on_pdata(ci, d, data, offset, here),
            Pdu::ReleaseRQ => {
                let e = self.event(
                    ci,
                    d,
                    here,
                    "A-RELEASE-RQ",
                    "A-RELEASE-RQ".into(),
                    "A-RELEASE request".into(),
                );
                self.emit(e, offset);
            }
            Pdu::ReleaseRP => {
                let e = self.event(
                    ci,
                    d,
                    here,
                    "A-RELEASE-RP",
                    "A-RELEASE-RP".into(),
                    "A-RELEASE response".into(),
                );
                self.emit(e, offset);
                self.end_association(ci, "released", here.time);
                self.release(ci);
            }
            Pdu::AbortRQ { source } => {
                let src = match source {
                    AbortRQSource::ServiceUser => "service-user".to_string(),
                    AbortRQSource::ServiceProvider(r) => format!("service-provider, {r:?}"),
                    AbortRQSource::Reserved => "reserved".to_string(),
                };
                let e = self.event(
                    ci,
                    d,
                    here,
                    "A-ABORT",
                    "A-ABORT".into(),
                    format!("A-ABORT ({src})"),
                );
                self.emit(e, offset);
                self.end_association(ci, "aborted", here.time);
                self.release(ci);
            }
            Pdu::Unknown { pdu_type, .. } => self.push_issue(
                IssueKind::Pdu,
                ci,
                d,
                offset,
                here,
                format!("unknown PDU type 0x{pdu_type:02x}"),
            ),
        }
    }

    pub(super) fn on_pdata(
        &mut self,
        ci: usize,
        d: usize,
        values: Vec<dicom_ul::pdu::PDataValue>,
        offset: u64,
        here: &Here,
    ) {
        let mut commands: Vec<Dimse> = Vec::new();
        let mut fragment_info: Option<String> = None;
        // PHI found in the data sets this PDU completes, emitted after its event
        let mut phi: Vec<PhiSeen> = Vec::new();
        for pdv in values {
            let is_cmd = pdv.value_type == PDataValueType::Command;
            let pcid = pdv.presentation_context_id;
            let limit = if is_cmd {
                MAX_COMMAND_BYTES
            } else {
                MAX_DATASET_BYTES
            };
            let enc = if is_cmd {
                None
            } else {
                let ts = self.conns[ci].accepted.get(&pcid).map(String::as_str);
                Some(ts.map_or_else(
                    || {
                        let frags = self.conns[ci].dirs[d].pdv.get(&(pcid, false));
                        let head = frags.map_or(&pdv.data[..], |f| &f.data[..]);
                        dataset::encoding(dataset::guess_ts(head))
                    },
                    dataset::encoding,
                ))
            };
            let dir = &mut self.conns[ci].dirs[d];
            let frags = dir.pdv.entry((pcid, is_cmd)).or_default();
            let mut too_big = false;
            if !frags.dropped && !frags.prefix_done {
                if frags.data.len() + pdv.data.len() > limit {
                    frags.dropped = true;
                    frags.data = Vec::new();
                    too_big = true;
                } else {
                    frags.data.extend_from_slice(&pdv.data);
                    // Keep only what precedes the top-level Pixel Data (the PHI is
                    // there); look for it each time the buffer doubles.
                    if let Some(Some((explicit, big))) = enc
                        && frags.data.len() >= frags.next_check
                    {
                        match dataset::prescan(&frags.data, explicit, big) {
                            Ok(p) if p < frags.data.len() => {
                                frags.data.truncate(p);
                                frags.data.shrink_to_fit();
                                frags.prefix_done = true;
                            }
                            _ => frags.next_check = (frags.data.len() * 2).max(16 * 1024),
                        }
                    }
                }
            }
            if too_big {
                self.push_issue(
                    if is_cmd {
                        IssueKind::Dimse
                    } else {
                        IssueKind::Dataset
                    },
                    ci,
                    d,
                    offset,
                    here,
                    format!(
                        "{} on presentation context {pcid} larger than {limit} bytes; not analysed",
                        if is_cmd { "command set" } else { "data set" }
                    ),
                );
            }
            if !pdv.is_last {
                if fragment_info.is_none() {
                    fragment_info = Some(if is_cmd {
                        "P-DATA, Command Fragment".into()
                    } else {
                        format!("P-DATA, {} Fragment", self.context_name(ci, pcid))
                    });
                }
                continue;
            }
            let frags = self.conns[ci].dirs[d]
                .pdv
                .remove(&(pcid, is_cmd))
                .unwrap_or_default();
            if frags.dropped {
                continue;
            }
            if is_cmd {
                match dataset::parse_command(&frags.data) {
                    Ok(cmd) => {
                        let dimse = to_dimse(cmd);
                        if let Some(a) = self.conns[ci].assoc.as_mut() {
                            if dimse.command.ends_with("-RSP") {
                                a.response(d, &dimse, here.time);
                            } else {
                                a.request(d, &dimse, here.time);
                            }
                        }
                        commands.push(dimse);
                    }
                    Err(msg) => self.push_issue(
                        IssueKind::Dimse,
                        ci,
                        d,
                        offset,
                        here,
                        format!(
                            "command set on presentation context {pcid} does not decode: {msg}"
                        ),
                    ),
                }
            } else {
                if fragment_info.is_none() {
                    fragment_info = Some(format!(
                        "P-DATA, {} Last Fragment",
                        self.context_name(ci, pcid)
                    ));
                }
                let ts = match self.conns[ci].accepted.get(&pcid) {
                    Some(ts) => ts.clone(),
                    None => dataset::guess_ts(&frags.data).to_string(),
                };
                match dataset::parse_phi(&frags.data, &ts) {
                    Ok(found) => {
                        let stream = self.conns[ci].index;
                        phi.extend(found.into_iter().map(|(kw, value)| PhiSeen {
                            stream,
                            time: here.time,
                            keyword: kw.to_string(),
                            value,
                        }));
                    }
                    Err(msg) => self.push_issue(
                        IssueKind::Dataset,
                        ci,
                        d,
                        offset,
                        here,
                        format!("data set on presentation context {pcid}: {msg}"),
                    ),
                }
            }
        }
        if commands.is_empty() {
            let info = fragment_info.unwrap_or_else(|| "P-DATA".into());
            let e = self.event(ci, d, here, "P-DATA-TF", "P-DATA".into(), info);
            self.emit(e, offset);
        }
        for dimse in commands {
            let (label, info) = dimse_texts(&dimse);
            let mut e = self.event(ci, d, here, "P-DATA-TF", label, info);
            e.dimse = Some(dimse);
            self.emit(e, offset);
        }
        for p in phi {
            self.out.phi(p);
        }
    }

    pub(super) fn context_name(&self, ci: usize, pcid: u8) -> String {
        match self.conns[ci].proposed.get(&pcid) {
            Some(uid) => sop_class_name(uid)
                .map(str::to_string)
                .unwrap_or_else(|| uid.clone()),
            None => format!("presentation context {pcid}"),
        }
    }
}

fn to_dimse(cmd: dataset::Command) -> Dimse {
    let field = cmd.field.unwrap_or(0);
    let command = command_name(field)
        .map(str::to_string)
        .unwrap_or_else(|| format!("DIMSE 0x{field:04X}"));
    Dimse {
        command,
        message_id: cmd.message_id,
        responded_id: cmd.responded_id,
        status_name: cmd.status.and_then(status_name).map(str::to_string),
        status: cmd.status,
        sop_class_uid: cmd.sop_class_uid,
        sop_instance_uid: cmd.sop_instance_uid,
    }
}

/// (label, info) of a DIMSE message.
fn dimse_texts(d: &Dimse) -> (String, String) {
    let is_rsp = d.command.ends_with("-RSP");
    if is_rsp {
        let status = match (&d.status_name, d.status) {
            (Some(n), _) => n.clone(),
            (None, Some(s)) => format!("0x{s:04X}"),
            (None, None) => "no status".into(),
        };
        let id = d
            .responded_id
            .map(|i| format!(" ID={i}"))
            .unwrap_or_default();
        (
            format!("{} {status}", d.command),
            format!("P-DATA, {}{id} ({status})", d.command),
        )
    } else {
        let id = d.message_id.map(|i| format!(" ID={i}")).unwrap_or_default();
        (d.command.clone(), format!("P-DATA, {}{id}", d.command))
    }
}

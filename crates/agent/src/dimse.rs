//! DIMSE messages over an established association, shared by the client (SCU) and the
//! storage SCP: command sets (always Implicit VR Little Endian, PS3.7 6.3.1), their status
//! codes in words, and reading a whole message (command + optional data set) from P-DATA.

use crate::bounds;
use crate::error::AgentError;
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_ul::Pdu;
use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextNegotiated};

/// Command Field values (PS3.7 E.1).
pub mod command {
    pub const C_STORE_RQ: u16 = 0x0001;
    pub const C_STORE_RSP: u16 = 0x8001;
    pub const C_GET_RQ: u16 = 0x0010;
    pub const C_GET_RSP: u16 = 0x8010;
    pub const C_FIND_RQ: u16 = 0x0020;
    pub const C_FIND_RSP: u16 = 0x8020;
    pub const C_MOVE_RQ: u16 = 0x0021;
    pub const C_MOVE_RSP: u16 = 0x8021;
    pub const C_ECHO_RQ: u16 = 0x0030;
    pub const C_ECHO_RSP: u16 = 0x8030;
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// Command Data Set Type (0000,0800): no data set follows.
pub const NO_DATA_SET: u16 = 0x0101;

/// The name of a DIMSE status code (PS3.7 Annex C, and C-STORE's PS3.4 B.2.3).
pub fn status_name(status: u16) -> &'static str {
    match status {
        0x0000 => "Success",
        0xFF00 | 0xFF01 => "Pending",
        0xFE00 => "Cancel",
        0x0001 | 0x0107 | 0x0116 => "Warning",
        0xB000 => "Warning: coercion of data elements",
        0xB006 => "Warning: elements discarded",
        0xB007 => "Warning: data set does not match SOP class",
        0x0105 => "Failure: no such attribute",
        0x0106 => "Failure: invalid attribute value",
        0x0110 => "Failure: processing failure",
        0x0111 => "Failure: duplicate SOP instance",
        0x0112 => "Failure: no such SOP instance",
        0x0117 => "Failure: invalid object instance",
        0x0118 => "Failure: no such SOP class",
        0x0119 => "Failure: class-instance conflict",
        0x0122 => "Refused: SOP class not supported",
        0x0124 => "Refused: not authorized",
        0x0210 => "Failure: duplicate invocation",
        0x0211 => "Failure: unrecognized operation",
        0x0212 => "Failure: mistyped argument",
        0x0213 => "Failure: resource limitation",
        s if s & 0xFF00 == 0xA700 => "Refused: out of resources",
        s if s & 0xFF00 == 0xA900 => "Error: data set does not match SOP class",
        s if s & 0xF000 == 0xC000 => "Error: cannot understand",
        _ => "Failure: unknown status",
    }
}

/// Success and warnings mean the peer took the request; everything else is a failure.
pub fn status_is_ok(status: u16) -> bool {
    status == 0x0000 || status_name(status).starts_with("Warning")
}

/// The presentation context accepted for `abstract_syntax`, with its transfer syntax.
pub fn accepted_pc(
    pcs: &[PresentationContextNegotiated],
    abstract_syntax: &str,
) -> Option<(u8, String)> {
    pcs.iter()
        .find(|pc| {
            pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
                && pc.abstract_syntax.trim_end_matches('\0') == abstract_syntax
        })
        .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
}

fn el(tag: dicom_core::Tag, vr: VR, v: PrimitiveValue) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, v)
}

pub fn echo_rq(message_id: u16) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter([
        el(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::VERIFICATION),
        ),
        el(
            tags::COMMAND_FIELD,
            VR::US,
            dicom_value!(U16, [command::C_ECHO_RQ]),
        ),
        el(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        el(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [NO_DATA_SET]),
        ),
    ])
}

pub fn store_rq(message_id: u16, sop_class: &str, sop_instance: &str) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter([
        el(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        el(
            tags::COMMAND_FIELD,
            VR::US,
            dicom_value!(U16, [command::C_STORE_RQ]),
        ),
        el(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        el(tags::PRIORITY, VR::US, dicom_value!(U16, [0x0000])),
        el(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ),
        el(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance),
        ),
    ])
}

pub fn find_rq(message_id: u16, sop_class: &str) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter([
        el(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        el(
            tags::COMMAND_FIELD,
            VR::US,
            dicom_value!(U16, [command::C_FIND_RQ]),
        ),
        el(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        el(tags::PRIORITY, VR::US, dicom_value!(U16, [0x0000])),
        el(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ),
    ])
}

/// A C-MOVE-RQ asking the peer to send the matches to the AE `destination`.
pub fn move_rq(message_id: u16, sop_class: &str, destination: &str) -> InMemDicomObject {
    query_rq(
        command::C_MOVE_RQ,
        message_id,
        sop_class,
        Some(el(
            tags::MOVE_DESTINATION,
            VR::AE,
            PrimitiveValue::from(destination),
        )),
    )
}

/// A C-GET-RQ: the matches come back as C-STORE sub-operations on the same association.
pub fn get_rq(message_id: u16, sop_class: &str) -> InMemDicomObject {
    query_rq(command::C_GET_RQ, message_id, sop_class, None)
}

fn query_rq(
    field: u16,
    message_id: u16,
    sop_class: &str,
    extra: Option<DataElement<InMemDicomObject>>,
) -> InMemDicomObject {
    let mut elems = vec![
        el(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        el(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [field])),
        el(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        el(tags::PRIORITY, VR::US, dicom_value!(U16, [0x0000])),
        el(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ),
    ];
    elems.extend(extra);
    InMemDicomObject::command_from_element_iter(elems)
}

/// A response command set (C-ECHO-RSP, C-STORE-RSP) answering `rq`.
pub fn response(
    command_field: u16,
    message_id: u16,
    sop_class: &str,
    sop_instance: Option<&str>,
    status: u16,
) -> InMemDicomObject {
    let mut elems = vec![
        el(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        el(
            tags::COMMAND_FIELD,
            VR::US,
            dicom_value!(U16, [command_field]),
        ),
        el(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            dicom_value!(U16, [message_id]),
        ),
        el(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [NO_DATA_SET]),
        ),
        el(tags::STATUS, VR::US, dicom_value!(U16, [status])),
    ];
    if let Some(i) = sop_instance {
        elems.push(el(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(i),
        ));
    }
    InMemDicomObject::command_from_element_iter(elems)
}

/// Encode a command set as one command PDV.
pub fn command_pdu(pc_id: u8, cmd: &InMemDicomObject) -> Result<Pdu, AgentError> {
    let mut data = Vec::with_capacity(256);
    cmd.write_dataset_with_ts(&mut data, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| AgentError::other(format!("could not encode the command set: {e}")))?;
    Ok(Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc_id,
            value_type: PDataValueType::Command,
            is_last: true,
            data,
        }],
    })
}

/// Parse a command set received in Implicit VR LE, after [`bounds::check_command`].
pub fn parse_command(bytes: &[u8]) -> Result<InMemDicomObject, AgentError> {
    bounds::check_command(bytes)
        .map_err(|e| AgentError::other(format!("the peer's command set is refused: {e}")))?;
    InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| AgentError::other(format!("the peer's command set cannot be parsed: {e}")))
}

/// Read a data set in the given transfer syntax, after [`bounds::check_dataset`].
pub fn parse_dataset(bytes: &[u8], ts_uid: &str) -> Result<InMemDicomObject, AgentError> {
    let ts = TransferSyntaxRegistry.get(ts_uid).ok_or_else(|| {
        AgentError::other(format!("transfer syntax {ts_uid} is unknown to this agent"))
    })?;
    bounds::check_dataset(bytes, ts_uid)
        .map_err(|e| AgentError::other(format!("a data set is refused: {e}")))?;
    InMemDicomObject::read_dataset_with_ts(bytes, ts)
        .map_err(|e| AgentError::other(format!("a data set cannot be parsed: {e}")))
}

/// Encode a data set in the given transfer syntax.
pub fn encode_dataset(obj: &InMemDicomObject, ts_uid: &str) -> Result<Vec<u8>, AgentError> {
    let ts = TransferSyntaxRegistry.get(ts_uid).ok_or_else(|| {
        AgentError::other(format!("transfer syntax {ts_uid} is unknown to this agent"))
    })?;
    let mut out = Vec::with_capacity(1024);
    obj.write_dataset_with_ts(&mut out, ts)
        .map_err(|e| AgentError::other(format!("could not encode a data set in {ts_uid}: {e}")))?;
    Ok(out)
}

/// A u16 element of a command set.
pub fn get_u16(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<u16> {
    obj.element(tag).ok().and_then(|e| e.to_int::<u16>().ok())
}

/// A string element, trimmed of DICOM padding.
pub fn get_str(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element(tag).ok().and_then(|e| {
        e.to_str()
            .ok()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
    })
}

/// Accumulates PDVs into whole messages: a command set and, if announced, its data set.
///
/// Bounded: a command set at most [`bounds::MAX_COMMAND`] bytes, a data set at most the
/// `max_dataset` given to [`MessageAssembler::new`]; both only ever hold bytes received.
#[derive(Debug)]
pub struct MessageAssembler {
    command: Vec<u8>,
    /// The command set of the message whose data set is arriving, and its context.
    pending: Option<(u8, InMemDicomObject)>,
    data: Vec<u8>,
    max_dataset: usize,
    /// Says where the data set bound comes from, in errors (e.g. a command line option).
    bound_hint: &'static str,
}

impl Default for MessageAssembler {
    fn default() -> Self {
        MessageAssembler::new(bounds::DEFAULT_MAX_DATASET, "")
    }
}

/// A whole DIMSE message.
#[derive(Debug)]
pub struct Message {
    pub pc_id: u8,
    pub command: InMemDicomObject,
    /// The data set bytes, in the presentation context's transfer syntax.
    pub data: Option<Vec<u8>>,
}

impl MessageAssembler {
    /// An assembler refusing data sets over `max_dataset` bytes; `bound_hint` (may be
    /// empty) is appended to that error, to say how to raise the bound.
    pub fn new(max_dataset: usize, bound_hint: &'static str) -> Self {
        MessageAssembler {
            command: Vec::new(),
            pending: None,
            data: Vec::new(),
            max_dataset,
            bound_hint,
        }
    }

    /// Feed the PDVs of one P-DATA-TF; returns the messages it completed, in order (one
    /// PDU may end a message and hold all of the next, e.g. a C-FIND-RSP with no data set
    /// after the last fragment of a pending one's identifier).
    /// (PDVs of one message never interleave with another's on an association without
    /// asynchronous operations, which this agent never negotiates.)
    pub fn feed(&mut self, pdvs: Vec<PDataValue>) -> Result<Vec<Message>, AgentError> {
        let mut done = Vec::new();
        for pdv in pdvs {
            match pdv.value_type {
                PDataValueType::Command => {
                    if self.pending.is_some() {
                        return Err(AgentError::other(
                            "the peer sent a command set before the end of the previous message's data set",
                        ));
                    }
                    if self.command.len() + pdv.data.len() > bounds::MAX_COMMAND {
                        return Err(AgentError::other(format!(
                            "the peer's command set is refused: more than {} bytes",
                            bounds::MAX_COMMAND
                        )));
                    }
                    self.command.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        let cmd = parse_command(&self.command)?;
                        self.command.clear();
                        let has_data = get_u16(&cmd, tags::COMMAND_DATA_SET_TYPE)
                            .is_some_and(|t| t != NO_DATA_SET);
                        let pc_id = pdv.presentation_context_id;
                        if has_data {
                            // Keep the parsed command until the data set is complete.
                            self.pending = Some((pc_id, cmd));
                        } else {
                            done.push(Message {
                                pc_id,
                                command: cmd,
                                data: None,
                            });
                        }
                    }
                }
                PDataValueType::Data => {
                    let Some((pc_id, _)) = &self.pending else {
                        return Err(AgentError::other(
                            "the peer sent a data set without a command set before it",
                        ));
                    };
                    if *pc_id != pdv.presentation_context_id {
                        return Err(AgentError::other(format!(
                            "the peer sent a data set on presentation context {} for a \
                             command set on context {pc_id}",
                            pdv.presentation_context_id
                        )));
                    }
                    if self.data.len().saturating_add(pdv.data.len()) > self.max_dataset {
                        return Err(AgentError::other(format!(
                            "the peer sent a data set larger than {} MiB{}: refused",
                            self.max_dataset >> 20,
                            self.bound_hint
                        )));
                    }
                    self.data.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        let (pc_id, command) = self.pending.take().expect("checked above");
                        done.push(Message {
                            pc_id,
                            command,
                            data: Some(std::mem::take(&mut self.data)),
                        });
                    }
                }
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdv(kind: PDataValueType, is_last: bool, data: Vec<u8>) -> PDataValue {
        PDataValue {
            presentation_context_id: 1,
            value_type: kind,
            is_last,
            data,
        }
    }

    fn encoded(cmd: &InMemDicomObject) -> Vec<u8> {
        match command_pdu(1, cmd).unwrap() {
            Pdu::PData { mut data } => data.remove(0).data,
            _ => unreachable!(),
        }
    }

    #[test]
    fn two_messages_completed_by_one_pdu_both_come_out_in_order() {
        // A C-FIND-RSP (pending) whose identifier ends in this PDU, then the final
        // C-FIND-RSP without a data set, whole in the same PDU.
        let mut pending = response(command::C_FIND_RSP, 1, uids::VERIFICATION, None, 0xFF00);
        pending.put(el(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ));
        let last = response(command::C_FIND_RSP, 1, uids::VERIFICATION, None, 0x0000);
        let mut asm = MessageAssembler::default();
        let first = asm
            .feed(vec![
                pdv(PDataValueType::Command, true, encoded(&pending)),
                pdv(PDataValueType::Data, false, vec![0x10, 0x00]),
            ])
            .unwrap();
        assert!(first.is_empty());
        let out = asm
            .feed(vec![
                pdv(PDataValueType::Data, true, vec![0x10, 0x00, 0, 0, 0, 0]),
                pdv(PDataValueType::Command, true, encoded(&last)),
            ])
            .unwrap();
        let statuses: Vec<_> = out
            .iter()
            .map(|m| get_u16(&m.command, tags::STATUS))
            .collect();
        assert_eq!(statuses, [Some(0xFF00), Some(0x0000)]);
        assert_eq!(
            out[0].data.as_deref(),
            Some(&[0x10, 0, 0x10, 0, 0, 0, 0, 0][..])
        );
        assert!(out[1].data.is_none());
    }

    #[test]
    fn data_sets_and_command_sets_are_bounded() {
        let mut store = store_rq(1, uids::CT_IMAGE_STORAGE, "1.2.3");
        store.put(el(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            dicom_value!(U16, [0x0000]),
        ));
        let mut asm = MessageAssembler::new(1000, " (--max-dataset-mb)");
        asm.feed(vec![pdv(PDataValueType::Command, true, encoded(&store))])
            .unwrap();
        asm.feed(vec![pdv(PDataValueType::Data, false, vec![0; 600])])
            .unwrap();
        let e = asm
            .feed(vec![pdv(PDataValueType::Data, false, vec![0; 600])])
            .unwrap_err();
        assert!(e.message.contains("--max-dataset-mb"), "{}", e.message);

        let mut asm = MessageAssembler::default();
        let e = asm
            .feed(vec![pdv(
                PDataValueType::Command,
                false,
                vec![0; bounds::MAX_COMMAND + 1],
            )])
            .unwrap_err();
        assert!(e.message.contains("command set"), "{}", e.message);

        let mut asm = MessageAssembler::default();
        let e = asm
            .feed(vec![pdv(PDataValueType::Data, true, vec![0; 8])])
            .unwrap_err();
        assert!(e.message.contains("without a command set"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        // 10,000 levels of undefined-length sequence and item: dicom-object alone
        // overflows the stack on this
        let ds = wire::fuzzing::deep_nesting_dataset(10_000);
        let e = parse_dataset(&ds, uids::EXPLICIT_VR_LITTLE_ENDIAN).unwrap_err();
        assert!(e.message.contains("nest"), "{}", e.message);
    }
}

//! DIMSE messages over an established association, shared by the client (SCU) and the
//! storage SCP: command sets (always Implicit VR Little Endian, PS3.7 6.3.1), their status
//! codes in words, and reading a whole message (command + optional data set) from P-DATA.

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

/// Parse a command set received in Implicit VR LE.
pub fn parse_command(bytes: &[u8]) -> Result<InMemDicomObject, AgentError> {
    InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| AgentError::other(format!("the peer's command set cannot be parsed: {e}")))
}

/// Read a data set in the given transfer syntax.
pub fn parse_dataset(bytes: &[u8], ts_uid: &str) -> Result<InMemDicomObject, AgentError> {
    let ts = TransferSyntaxRegistry.get(ts_uid).ok_or_else(|| {
        AgentError::other(format!("transfer syntax {ts_uid} is unknown to this agent"))
    })?;
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
#[derive(Debug, Default)]
pub struct MessageAssembler {
    command: Vec<u8>,
    pending: Option<InMemDicomObject>,
    data: Vec<u8>,
    pc_id: u8,
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
    /// Feed the PDVs of one P-DATA-TF; returns a message when one is complete.
    /// (PDVs of one message never interleave with another's on an association without
    /// asynchronous operations, which this agent never negotiates.)
    pub fn feed(&mut self, pdvs: Vec<PDataValue>) -> Result<Option<Message>, AgentError> {
        let mut done = None;
        for pdv in pdvs {
            self.pc_id = pdv.presentation_context_id;
            match pdv.value_type {
                PDataValueType::Command => {
                    self.command.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        let cmd = parse_command(&self.command)?;
                        let has_data = get_u16(&cmd, tags::COMMAND_DATA_SET_TYPE)
                            .is_some_and(|t| t != NO_DATA_SET);
                        if !has_data {
                            done = Some(self.take(cmd, None));
                        } else {
                            // Keep the parsed command until the data set is complete.
                            self.command.clear();
                            self.pending = Some(cmd);
                        }
                    }
                }
                PDataValueType::Data => {
                    self.data.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        let cmd = self.pending.take().ok_or_else(|| {
                            AgentError::other(
                                "the peer sent a data set without a command set before it",
                            )
                        })?;
                        let data = std::mem::take(&mut self.data);
                        done = Some(self.take(cmd, Some(data)));
                    }
                }
            }
        }
        Ok(done)
    }

    fn take(&mut self, command: InMemDicomObject, data: Option<Vec<u8>>) -> Message {
        self.command.clear();
        Message {
            pc_id: self.pc_id,
            command,
            data,
        }
    }
}

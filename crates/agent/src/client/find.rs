//! C-FIND at patient, study or series level: the identifier, the matches as JSON.

use super::*;

/// The query/retrieve level of a C-FIND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindLevel {
    Patient,
    Study,
    Series,
}

impl FindLevel {
    pub fn code(self) -> &'static str {
        match self {
            FindLevel::Patient => "PATIENT",
            FindLevel::Study => "STUDY",
            FindLevel::Series => "SERIES",
        }
    }

    /// Patient Root for the patient level, Study Root otherwise.
    pub fn sop_class(self) -> &'static str {
        match self {
            FindLevel::Patient => uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
            _ => uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
        }
    }

    /// The return keys asked for by default at this level (universal matching).
    pub fn default_keys(self) -> &'static [Tag] {
        match self {
            FindLevel::Patient => &[
                tags::PATIENT_NAME,
                tags::PATIENT_ID,
                tags::PATIENT_BIRTH_DATE,
                tags::PATIENT_SEX,
            ],
            FindLevel::Study => &[
                tags::PATIENT_NAME,
                tags::PATIENT_ID,
                tags::STUDY_INSTANCE_UID,
                tags::STUDY_DATE,
                tags::STUDY_TIME,
                tags::ACCESSION_NUMBER,
                tags::STUDY_ID,
                tags::STUDY_DESCRIPTION,
            ],
            FindLevel::Series => &[
                tags::STUDY_INSTANCE_UID,
                tags::SERIES_INSTANCE_UID,
                tags::MODALITY,
                tags::SERIES_NUMBER,
                tags::SERIES_DESCRIPTION,
            ],
        }
    }
}

/// A C-FIND request: level, matching keys (keyword = value, DICOM wildcards allowed) and a
/// bound on the number of matches read (then C-CANCEL).
#[derive(Debug, Clone)]
pub struct FindQuery {
    pub level: FindLevel,
    pub keys: Vec<(Tag, String)>,
    pub limit: usize,
}

/// The result of [`find`].
#[derive(Debug, Default)]
pub struct FindReport {
    /// Each match as { keyword: value }.
    pub matches: Vec<serde_json::Map<String, serde_json::Value>>,
    /// The final status (0 success, 0xFE00 cancelled after `limit`).
    pub status: Option<u16>,
    pub cancelled: bool,
    pub error: Option<AgentError>,
    pub tls: Option<TlsInfo>,
}

/// Build the identifier of a query.
pub fn find_identifier(q: &FindQuery) -> InMemDicomObject {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::StandardDataDictionary;
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        tags::QUERY_RETRIEVE_LEVEL,
        VR::CS,
        PrimitiveValue::from(q.level.code()),
    ));
    let vr_of = |t: Tag| {
        StandardDataDictionary
            .by_tag(t)
            .map(|e| e.vr().relaxed())
            .unwrap_or(VR::LO)
    };
    for t in q.level.default_keys() {
        obj.put(DataElement::new(*t, vr_of(*t), PrimitiveValue::Empty));
    }
    for (t, v) in &q.keys {
        let value = if v.is_empty() {
            PrimitiveValue::Empty
        } else {
            PrimitiveValue::from(v.as_str())
        };
        obj.put(DataElement::new(*t, vr_of(*t), value));
    }
    obj
}

/// A data set as { keyword: value } (strings; multi-values joined with `\`).
pub fn to_json_map(obj: &InMemDicomObject) -> serde_json::Map<String, serde_json::Value> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_dictionary_std::StandardDataDictionary;
    let mut m = serde_json::Map::new();
    for e in obj.iter() {
        let tag = e.header().tag;
        if tag == tags::SPECIFIC_CHARACTER_SET {
            continue;
        }
        let name = StandardDataDictionary
            .by_tag(tag)
            .map(|d| d.alias().to_string())
            .unwrap_or_else(|| format!("{:04X}{:04X}", tag.group(), tag.element()));
        let v = e
            .to_str()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .unwrap_or_default();
        m.insert(name, serde_json::Value::String(v));
    }
    m
}

pub(super) async fn find_on<S>(
    a: &mut AsyncClientAssociation<S>,
    q: &FindQuery,
    report: &mut FindReport,
) -> Result<(), UlErrOrAgent>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + TcpSocket,
{
    let class = q.level.sop_class();
    let (pc, ts) = dimse::accepted_pc(a.presentation_contexts(), class).ok_or_else(|| {
        AgentError::refused(format!(
            "the peer did not accept the C-FIND information model {class} (query/retrieve \
             is off, or this AE may not query)"
        ))
    })?;
    send_command(a, pc, &dimse::find_rq(1, class)).await?;
    let ident = dimse::encode_dataset(&find_identifier(q), &ts)?;
    {
        let mut w = a.send_pdata(pc);
        let io = |e: std::io::Error| AgentError::other(format!("sending the query failed: {e}"));
        w.write_all(&ident).await.map_err(io)?;
        w.finish().await.map_err(io)?;
    }
    // Bounded: at most `limit` matches are read, then C-CANCEL, then at most a few more.
    let mut extra = 0usize;
    let mut inbox = Inbox::new();
    loop {
        let m = receive_message(a, &mut inbox).await?;
        let field = dimse::get_u16(&m.command, tags::COMMAND_FIELD).unwrap_or(0);
        if field != command::C_FIND_RSP {
            return Err(AgentError::other(format!(
                "the peer answered C-FIND with command 0x{field:04X}"
            ))
            .into());
        }
        let status = dimse::get_u16(&m.command, tags::STATUS)
            .ok_or_else(|| AgentError::other("a C-FIND response has no Status"))?;
        if status == 0xFF00 || status == 0xFF01 {
            if let Some(data) = &m.data {
                if report.matches.len() < q.limit {
                    report
                        .matches
                        .push(to_json_map(&dimse::parse_dataset(data, &ts)?));
                } else {
                    extra += 1;
                }
            }
            if report.matches.len() >= q.limit && !report.cancelled {
                report.cancelled = true;
                let cancel = InMemDicomObject::command_from_element_iter([
                    dicom_core::DataElement::new(
                        tags::COMMAND_FIELD,
                        dicom_core::VR::US,
                        dicom_core::dicom_value!(U16, [command::C_CANCEL_RQ]),
                    ),
                    dicom_core::DataElement::new(
                        tags::MESSAGE_ID_BEING_RESPONDED_TO,
                        dicom_core::VR::US,
                        dicom_core::dicom_value!(U16, [1]),
                    ),
                    dicom_core::DataElement::new(
                        tags::COMMAND_DATA_SET_TYPE,
                        dicom_core::VR::US,
                        dicom_core::dicom_value!(U16, [dimse::NO_DATA_SET]),
                    ),
                ]);
                send_command(a, pc, &cancel).await?;
            }
            if extra > 10_000 {
                return Err(
                    AgentError::other("the peer kept sending matches after C-CANCEL").into(),
                );
            }
            continue;
        }
        report.status = Some(status);
        return Ok(());
    }
}

/// One C-FIND on one association.
pub async fn find(peer: &Peer, q: &FindQuery) -> FindReport {
    let contexts = vec![(
        q.level.sop_class().to_string(),
        vec![
            uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
            uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
        ],
    )];
    let mut report = FindReport::default();
    let conn = match connect(peer, &contexts).await {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.tls = conn.tls.clone();
    let r = run_then_release!(conn, peer, a => find_on(&mut a, q, &mut report).await);
    report.error = match r {
        Err(e) => Some(e),
        Ok(()) => match report.status {
            Some(s) if status_is_ok(s) || s == 0xFE00 => None,
            Some(s) => Some(AgentError::refused(format!(
                "the peer refused the C-FIND: status 0x{s:04X} ({})",
                status_name(s)
            ))),
            None => None,
        },
    };
    report
}

// ---------------------------------------------------------------------------------------
// C-MOVE and C-GET

impl From<protocol::FindLevel> for FindLevel {
    fn from(l: protocol::FindLevel) -> Self {
        match l {
            protocol::FindLevel::Patient => FindLevel::Patient,
            protocol::FindLevel::Study => FindLevel::Study,
            protocol::FindLevel::Series => FindLevel::Series,
        }
    }
}

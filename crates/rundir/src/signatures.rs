//! `pacs/<node>/signatures.json`: what DCMTK's `dcmsign --verify` said of each archived
//! instance the run kept, one [`SignatureCheck`] per file.

use serde::{Deserialize, Serialize};

/// The verdict on one archived instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureState {
    /// Every signature verifies, its certificate chained to the run's CA.
    Valid,
    /// At least one signature fails (the instance changed after it was signed, or its
    /// certificate is not the run's).
    Broken,
    /// No signature at all.
    Unsigned,
    /// The verifier could not read the file, or said nothing it recognises.
    Unreadable,
}

/// One digital signature of an instance as the verifier described it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureItem {
    /// 1-based, in the verifier's order.
    pub number: u32,
    /// Digital Signature UID (0400,0100).
    pub uid: Option<String>,
    /// Where it sits: the main data set or a sequence item.
    pub location: Option<String>,
    /// MAC ID Number (0400,0005) of the MAC Parameters item it signs.
    pub mac_id: Option<String>,
    pub mac_algorithm: Option<String>,
    /// The signer's certificate subject.
    pub signer: Option<String>,
    /// The verifier's verdict in its words ("signature is invalid (document corrupted)").
    pub verification: String,
    pub ok: bool,
}

/// What the verifier said of one archived file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureCheck {
    /// The Orthanc id of the instance.
    pub instance: String,
    /// The file verified, relative to the run directory.
    pub file: String,
    pub state: SignatureState,
    pub signatures: Vec<SignatureItem>,
    /// The verifier's closing line ("1 signatures verified in dataset, 1 corrupted.").
    pub summary: Option<String>,
    /// The verifier's exit status.
    pub exit_code: i64,
    /// The tool, as it names itself.
    pub verifier: String,
}

/// The most of a `signatures.json` that is read (10 files, a few KiB each).
pub const MAX_SIGNATURES_BYTES: u64 = 4 << 20;

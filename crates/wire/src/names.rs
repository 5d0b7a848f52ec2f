//! Human names for DIMSE command fields, statuses and common SOP classes.

/// Name of a DIMSE command field value (`0x0001` -> `"C-STORE-RQ"`).
pub fn command_name(field: u16) -> Option<&'static str> {
    Some(match field {
        0x0001 => "C-STORE-RQ",
        0x8001 => "C-STORE-RSP",
        0x0010 => "C-GET-RQ",
        0x8010 => "C-GET-RSP",
        0x0020 => "C-FIND-RQ",
        0x8020 => "C-FIND-RSP",
        0x0021 => "C-MOVE-RQ",
        0x8021 => "C-MOVE-RSP",
        0x0030 => "C-ECHO-RQ",
        0x8030 => "C-ECHO-RSP",
        0x0FFF => "C-CANCEL-RQ",
        0x0100 => "N-EVENT-REPORT-RQ",
        0x8100 => "N-EVENT-REPORT-RSP",
        0x0110 => "N-GET-RQ",
        0x8110 => "N-GET-RSP",
        0x0120 => "N-SET-RQ",
        0x8120 => "N-SET-RSP",
        0x0130 => "N-ACTION-RQ",
        0x8130 => "N-ACTION-RSP",
        0x0140 => "N-CREATE-RQ",
        0x8140 => "N-CREATE-RSP",
        0x0150 => "N-DELETE-RQ",
        0x8150 => "N-DELETE-RSP",
        _ => return None,
    })
}

/// Name of a DIMSE status (PS3.7 Annex C and the common service-specific codes).
pub fn status_name(status: u16) -> Option<&'static str> {
    Some(match status {
        0x0000 => "Success",
        0xFF00 | 0xFF01 => "Pending",
        0xFE00 => "Cancel",
        0x0001 | 0x0107 | 0x0116 | 0xB000 | 0xB006 | 0xB007 => "Warning",
        0x0122 => "Refused: SOP Class Not Supported",
        0x0124 => "Refused: Not Authorized",
        0x0210 => "Duplicate Invocation",
        0x0211 => "Unrecognized Operation",
        0x0212 => "Mistyped Argument",
        0x0213 => "Resource Limitation",
        0x0110 => "Processing Failure",
        0x0111 => "Duplicate SOP Instance",
        0x0112 => "No Such SOP Instance",
        0x0117 => "Invalid Object Instance",
        0x0118 => "No Such SOP Class",
        0x0119 => "Class-Instance Conflict",
        0x0120 => "Missing Attribute",
        0x0121 => "Missing Attribute Value",
        0xA700..=0xA7FF => "Refused: Out of Resources",
        0xA801 => "Refused: Move Destination Unknown",
        0xA900..=0xA9FF => "Error: Data Set Does Not Match SOP Class",
        0xC000..=0xCFFF => "Error: Cannot Understand",
        _ => return None,
    })
}

/// Name of a common SOP class (storage, verification, query/retrieve).
pub fn sop_class_name(uid: &str) -> Option<&'static str> {
    let uid = uid.trim_end_matches(['\0', ' ']);
    Some(match uid {
        "1.2.840.10008.1.1" => "Verification SOP Class",
        "1.2.840.10008.5.1.4.1.1.1" => "Computed Radiography Image Storage",
        "1.2.840.10008.5.1.4.1.1.1.1" => "Digital X-Ray Image Storage - For Presentation",
        "1.2.840.10008.5.1.4.1.1.1.2" => {
            "Digital Mammography X-Ray Image Storage - For Presentation"
        }
        "1.2.840.10008.5.1.4.1.1.2" => "CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.2.1" => "Enhanced CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.3.1" => "Ultrasound Multi-frame Image Storage",
        "1.2.840.10008.5.1.4.1.1.4" => "MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.4.1" => "Enhanced MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.6.1" => "Ultrasound Image Storage",
        "1.2.840.10008.5.1.4.1.1.7" => "Secondary Capture Image Storage",
        "1.2.840.10008.5.1.4.1.1.12.1" => "X-Ray Angiographic Image Storage",
        "1.2.840.10008.5.1.4.1.1.12.2" => "X-Ray Radiofluoroscopic Image Storage",
        "1.2.840.10008.5.1.4.1.1.20" => "Nuclear Medicine Image Storage",
        "1.2.840.10008.5.1.4.1.1.88.11" => "Basic Text SR Storage",
        "1.2.840.10008.5.1.4.1.1.88.22" => "Enhanced SR Storage",
        "1.2.840.10008.5.1.4.1.1.104.1" => "Encapsulated PDF Storage",
        "1.2.840.10008.5.1.4.1.1.128" => "Positron Emission Tomography Image Storage",
        "1.2.840.10008.5.1.4.1.1.481.1" => "RT Image Storage",
        "1.2.840.10008.5.1.4.1.2.1.1" => "Patient Root Query/Retrieve Information Model - FIND",
        "1.2.840.10008.5.1.4.1.2.1.2" => "Patient Root Query/Retrieve Information Model - MOVE",
        "1.2.840.10008.5.1.4.1.2.1.3" => "Patient Root Query/Retrieve Information Model - GET",
        "1.2.840.10008.5.1.4.1.2.2.1" => "Study Root Query/Retrieve Information Model - FIND",
        "1.2.840.10008.5.1.4.1.2.2.2" => "Study Root Query/Retrieve Information Model - MOVE",
        "1.2.840.10008.5.1.4.1.2.2.3" => "Study Root Query/Retrieve Information Model - GET",
        "1.2.840.10008.5.1.4.31" => "Modality Worklist Information Model - FIND",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names() {
        assert_eq!(command_name(0x8001), Some("C-STORE-RSP"));
        assert_eq!(command_name(0x1234), None);
        assert_eq!(status_name(0), Some("Success"));
        assert_eq!(status_name(0xA702), Some("Refused: Out of Resources"));
        assert_eq!(status_name(0xABCD), None);
        assert_eq!(
            sop_class_name("1.2.840.10008.5.1.4.1.1.12.1\0"),
            Some("X-Ray Angiographic Image Storage")
        );
    }
}

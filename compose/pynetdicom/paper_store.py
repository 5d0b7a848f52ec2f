"""The paper's DICOM simulator (Karagiannis et al. 2023, Listings 1-6), kept as written.

Changes, each needed to run it on any data or in a lab, each marked below:
- 1: the file filter also takes lower-case `.dcm` (the listing checks `.DCM` only);
- 2: `--extra-context SOP_CLASS=TS[,TS]` adds requested contexts besides the paper's
  XA / JPEG Baseline one (the benchmark sends CT in Explicit VR Little Endian, which the
  paper's single requested context cannot carry);
- 3: the calling AE title is a parameter (default the paper's "MODALITY");
- 4: the function also says why an association failed (rejected, aborted, unreachable),
  so that the lab engine maps it to lab-agent's exit codes.
It prints one JSON line at the end (sent, failed, seconds inside send_dicom_to_pacs).
`modality.py` wraps it for the labs (same JSON and exit codes as lab-agent).

Usage: paper_store.py DICOM_FOLDER PACS_IP PACS_PORT PACS_AE_TITLE [--extra-context ...]
"""

import json
import os
import sys
import time

from pydicom import dcmread
from pydicom.uid import JPEGBaseline
from pynetdicom import AE, StoragePresentationContexts
from pynetdicom.sop_class import CTImageStorage  # noqa: F401  (imported in the paper too)


def send_dicom_to_pacs(dicom_folder, pacs_ip, pacs_port, pacs_ae_title, extra=(),
                       calling="MODALITY", why=None):  # change 3, change 4
    # Create an Application Entity
    ae = AE(ae_title=calling)  # change 3: the paper writes ae_title="MODALITY"
    ae.supported_contexts = StoragePresentationContexts

    # Add the requested transfer syntax for the X-ray Angiographic Image Storage context
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.12.1", [JPEGBaseline])
    for sop_class, syntaxes in extra:  # change 2 (see the module docstring)
        ae.add_requested_context(sop_class, syntaxes)

    sent = failed = 0
    assoc = ae.associate(pacs_ip, pacs_port, ae_title=pacs_ae_title)
    if assoc.is_established:
        print("Connected to the PACS server.", file=sys.stderr)
        for filename in sorted(os.listdir(dicom_folder)):
            if filename.upper().endswith(".DCM"):  # change 1: the paper tests '.DCM' only
                dicom_file = os.path.join(dicom_folder, filename)
                # Read the DICOM file
                dataset = dcmread(dicom_file)
                # Send the DICOM image to the PACS server
                status = assoc.send_c_store(dataset)
                # Check the status of the storage request
                if status and status.Status == 0:
                    sent += 1
                else:
                    failed += 1
                    print(f"Failed to send {dicom_file} to the PACS server.", file=sys.stderr)
        # if assoc.is_established=true then Release the association
        assoc.release()
        print("Disconnected from the PACS server.", file=sys.stderr)
        return True, sent, failed
    print("Failed to connect to the PACS server.", file=sys.stderr)
    if why is not None:  # change 4
        why["rejected"] = assoc.is_rejected
        why["aborted"] = assoc.is_aborted
    return False, sent, failed


def main(argv):
    if len(argv) < 5 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) > 1 else 2
    extra = []
    rest = argv[5:]
    while rest:
        if rest[0] == "--extra-context" and len(rest) > 1:
            sop_class, _, syntaxes = rest[1].partition("=")
            extra.append((sop_class, syntaxes.split(",")))
            rest = rest[2:]
        else:
            print(f"unknown argument {rest[0]}", file=sys.stderr)
            return 2
    start = time.monotonic()
    ok, sent, failed = send_dicom_to_pacs(argv[1], argv[2], int(argv[3]), argv[4], extra)
    elapsed = time.monotonic() - start
    print(json.dumps({"ok": ok and failed == 0, "sent": sent, "failed": failed,
                      "seconds": round(elapsed, 3)}))
    return 0 if ok and failed == 0 else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))

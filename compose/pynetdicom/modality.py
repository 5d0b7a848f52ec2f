"""The paper's modality in a lab: the engine runs lab steps through this wrapper when a
modality node says `impl: pynetdicom`.

- `echo`: one association with the Verification context, C-ECHO, release (pynetdicom's own
  `send_c_echo`; the paper does not list an echo, this is the same AE code path).
- `store DIR`: the paper's `send_dicom_to_pacs` (paper_store.py) over the files in DIR
  (written beforehand by `lab-agent generate`, the same synthetic study as lab-agent's).

It prints one JSON line shaped like lab-agent's (`action`, `ok`, `status`/`stored`, `error`)
and exits like lab-agent: 0 success, 3 association rejected or aborted or a failure
status, 4 peer unreachable, 1 anything else, 2 bad usage.

Usage: modality.py echo|store --host H --port P --calling AET --called AET [--dir DIR]
       [--extra-context SOP_CLASS=TS[,TS]]...
"""

import argparse
import json
import logging
import os
import sys
import time

from pynetdicom import AE, __version__ as PYNETDICOM_VERSION
from pynetdicom.sop_class import Verification

import paper_store


def emit(v, code):
    print(json.dumps(v), flush=True)
    if code:
        print(f"modality.py: {v.get('error', 'failed')}", file=sys.stderr)
    return code


def why_failed(why):
    if why.get("rejected"):
        return 3, "association rejected by the PACS (pynetdicom logged the reason above)"
    if why.get("aborted"):
        return 3, "association aborted by the PACS"
    return 4, "cannot reach the PACS (connection refused, no route or timeout)"


def echo(args):
    start = time.monotonic()
    ae = AE(ae_title=args.calling)
    ae.add_requested_context(Verification)
    v = {"action": "echo", "impl": f"pynetdicom {PYNETDICOM_VERSION}", "attempts": 1}
    assoc = ae.associate(args.host, args.port, ae_title=args.called)
    if not assoc.is_established:
        code, msg = why_failed({"rejected": assoc.is_rejected, "aborted": assoc.is_aborted})
        v.update(ok=False, error=msg, elapsed_ms=int((time.monotonic() - start) * 1000))
        return emit(v, code)
    status = assoc.send_c_echo()
    assoc.release()
    v["elapsed_ms"] = int((time.monotonic() - start) * 1000)
    if status is None or "Status" not in status:
        v.update(ok=False, error="no C-ECHO response (timeout or abort)")
        return emit(v, 3)
    v["status"] = int(status.Status)
    v["status_name"] = "Success" if status.Status == 0 else "Failure"
    if status.Status != 0:
        v.update(ok=False, error=f"C-ECHO answered with status 0x{int(status.Status):04X}")
        return emit(v, 3)
    v["ok"] = True
    return emit(v, 0)


def store(args):
    start = time.monotonic()
    total = len([f for f in os.listdir(args.dir) if f.upper().endswith(".DCM")])
    extra = []
    for item in args.extra_context:
        sop_class, _, syntaxes = item.partition("=")
        extra.append((sop_class, syntaxes.split(",")))
    why = {}
    ok, sent, failed = paper_store.send_dicom_to_pacs(
        args.dir, args.host, args.port, args.called, extra, calling=args.calling, why=why
    )
    v = {
        "action": "store",
        "impl": f"pynetdicom {PYNETDICOM_VERSION}",
        "elapsed_ms": int((time.monotonic() - start) * 1000),
        "total": total,
        "stored": sent,
        "failed": failed,
        "associations": 1 if ok else 0,
    }
    if not ok:
        code, msg = why_failed(why)
        v.update(ok=False, error=msg)
        return emit(v, code)
    if failed or sent < total:
        v.update(ok=False, error=f"{failed} of {total} instances were not stored")
        return emit(v, 3)
    v["ok"] = True
    return emit(v, 0)


def main():
    # pynetdicom logs rejections and aborts at ERROR; keep them on stderr, in words.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="pynetdicom: %(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["echo", "store"])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=4242)
    p.add_argument("--calling", default="MODALITY")
    p.add_argument("--called", default="ORTHANC")
    p.add_argument("--dir", help="store: the folder of DICOM files to send")
    p.add_argument("--extra-context", action="append", default=[])
    args = p.parse_args()
    if args.action == "store" and not args.dir:
        p.error("store needs --dir")
    try:
        return echo(args) if args.action == "echo" else store(args)
    except Exception as e:  # anything else: exit 1 with the reason, like lab-agent
        return emit({"action": args.action, "ok": False, "error": f"{type(e).__name__}: {e}"}, 1)


if __name__ == "__main__":
    sys.exit(main())

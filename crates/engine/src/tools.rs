//! Steps that are not one `lab-agent` command line: the paper's pynetdicom modality, nmap's
//! DICOM scripts in the toolbox, and an attacker reading its own capture. Each becomes the
//! same kind of JSON result as lab-agent's (`action`, `ok`/`success`, `error`), so checks
//! grade them alike. These are the pure parts (command lines, parsing); `run.rs` executes.

use protocol::result::{HarvestResult, NmapResult};

use scenario::{Study, Syntax};

/// Where the pynetdicom modality's wrapper of the paper's script lives in its image.
pub const PYNETDICOM_MODALITY: &str = "/opt/modality.py";

/// SOP class UIDs of the synthetic studies.
fn sop_class(modality: &str) -> &'static str {
    match modality {
        "CT" => "1.2.840.10008.5.1.4.1.1.2",
        "MR" => "1.2.840.10008.5.1.4.1.1.4",
        "CR" => "1.2.840.10008.5.1.4.1.1.1",
        "US" => "1.2.840.10008.5.1.4.1.1.6.1",
        _ => "1.2.840.10008.5.1.4.1.1.12.1",
    }
}

fn syntax_uid(s: Syntax) -> &'static str {
    match s {
        Syntax::JpegBaseline => "1.2.840.10008.1.2.4.50",
        Syntax::ExplicitLe => "1.2.840.10008.1.2.1",
    }
}

/// `lab-agent generate` of a store step's study into `out` (the files lab-agent would send).
pub fn generate_cmd(study: &Study, out: &str) -> Vec<String> {
    protocol::step::generate_command(study_args(study), out).to_argv()
}

/// The agent's synthetic study, shared by `store` and `generate` so that both make the
/// very same files.
pub fn study_args(study: &Study) -> protocol::command::StudyArgs {
    protocol::command::StudyArgs {
        // The scenario accepts only the modalities lab-agent generates.
        modality: study.modality.parse().unwrap_or(protocol::Modality::Xa),
        instances: study.instances,
        syntax: match study.syntax {
            Syntax::JpegBaseline => protocol::Syntax::JpegBaseline,
            Syntax::ExplicitLe => protocol::Syntax::ExplicitLe,
        },
        patient: study.patient.clone(),
        patient_id: Some(study.patient_id.clone()),
        seed: study.seed,
        rows: study.rows,
        cols: study.cols,
        bits: None,
    }
}

/// Signs every `*.dcm` of `made` into `signed` (same names) with DCMTK's dcmsign: one
/// signature over the whole data set, SHA-256 MAC, the key and certificate `key`, `cert`.
/// The key has no passphrase (`-pw`), so dcmsign never waits on a prompt.
pub fn sign_cmd(made: &str, signed: &str, key: &str, cert: &str) -> Vec<String> {
    const SIGN_ALL: &str = r#"set -e
mkdir -p "$2"
for f in "$1"/*.dcm; do
  dcmsign --sign "$3" "$4" +m2 -pw "$f" "$2/${f##*/}"
done"#;
    ["sh", "-c", SIGN_ALL, "sign", made, signed, key, cert]
        .map(String::from)
        .to_vec()
}

/// A signing modality's store as its three commands: `lab-agent generate` of the study,
/// [`sign_cmd`] with the modality's signing key and certificate (the run's CA issued
/// them, in `AGENT_FILES_DIR`), and `lab-agent store --files` of the signed files.
pub fn signed_store_cmds(
    step_id: &str,
    study: &Study,
    mut target: protocol::step::StepTarget,
) -> Result<[Vec<String>; 3], protocol::WithError> {
    use crate::node::{AGENT_FILES_DIR, SIGNER_PREFIX};
    let made = format!("/tmp/study-{step_id}");
    let signed = format!("/tmp/signed-{step_id}");
    let file = |ext: &str| format!("{AGENT_FILES_DIR}/{SIGNER_PREFIX}.{ext}");
    target.study = Some(study_args(study));
    let mut store =
        protocol::step::step_command("store", &target, &std::collections::BTreeMap::new())?;
    if let protocol::Command::Store { opts, .. } = &mut store {
        opts.files = vec![signed.clone().into()];
    }
    Ok([
        generate_cmd(study, &made),
        sign_cmd(&made, &signed, &file("key"), &file("pem")),
        store.to_argv(),
    ])
}

/// The pynetdicom modality's command for `echo`, or `store` of the files in `dir`. The
/// paper requests XA in JPEG Baseline only; any other study adds its own context.
pub fn pynetdicom_cmd(
    action: &str,
    host: &str,
    port: u16,
    calling: &str,
    called: &str,
    store: Option<(&Study, &str)>,
) -> Vec<String> {
    let mut cmd: Vec<String> = vec![
        "python3".into(),
        PYNETDICOM_MODALITY.into(),
        action.into(),
        "--host".into(),
        host.into(),
        "--port".into(),
        port.to_string(),
        "--calling".into(),
        calling.into(),
        "--called".into(),
        called.into(),
    ];
    if let Some((study, dir)) = store {
        cmd.extend(["--dir".into(), dir.into()]);
        if !(study.modality == "XA" && study.syntax == Syntax::JpegBaseline) {
            cmd.extend([
                "--extra-context".into(),
                format!(
                    "{}={}",
                    sop_class(&study.modality),
                    syntax_uid(study.syntax)
                ),
            ]);
        }
    }
    cmd
}

/// nmap with one DICOM NSE script against `host:port`, XML on stdout. A TCP connect scan
/// (`-sT`), no host discovery (`-Pn`), no reverse DNS (`-n`), bounded by `--host-timeout`.
pub fn nmap_cmd(script: &str, host: &str, port: u16, script_args: &[String]) -> Vec<String> {
    let mut cmd: Vec<String> = ["nmap", "-Pn", "-n", "-sT", "--host-timeout", "120s", "-p"]
        .map(String::from)
        .to_vec();
    cmd.push(port.to_string());
    cmd.extend(["--script".into(), script.into()]);
    if !script_args.is_empty() {
        cmd.extend(["--script-args".into(), script_args.join(",")]);
    }
    cmd.extend(["-oX".into(), "-".into(), host.into()]);
    cmd
}

/// What nmap's XML says about one DICOM script run: the step's JSON result. `success` is
/// the weakness nmap reports: dicom-ping "Any AET is accepted (Insecure)"; dicom-brute a
/// valid called AE title found, or "DICOM SCU allows any AET".
pub fn nmap_result(script: &str, target: &str, xml: &str) -> NmapResult {
    // nmap's XML has a `<!DOCTYPE nmaprun>`; roxmltree bounds entity expansion.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, options);
    let (version, port_state, output) = match &doc {
        Ok(doc) => {
            let first = |tag: &str, pick: &dyn Fn(roxmltree::Node) -> bool, name: &str| {
                doc.descendants()
                    .find(|n| n.has_tag_name(tag) && pick(*n))
                    .and_then(|n| n.attribute(name))
                    .map(str::to_string)
            };
            (
                first("nmaprun", &|_| true, "version").unwrap_or_default(),
                first("state", &|_| true, "state"),
                first("script", &|n| n.attribute("id") == Some(script), "output"),
            )
        }
        Err(_) => (String::new(), None, None),
    };
    let mut v = NmapResult {
        action: script.into(),
        tool: format!("nmap {version}").trim().to_string(),
        target: target.into(),
        port: port_state
            .clone()
            .unwrap_or_else(|| "unknown (host not resolved or not scanned)".into()),
        ..Default::default()
    };
    let Some(output) = output else {
        v.error = Some(match port_state.as_deref() {
            Some("open") => format!("nmap's {script} printed nothing about {target}"),
            Some(state) => format!("nmap found {target} {state}: no DICOM service to probe"),
            None => match &doc {
                Err(e) => {
                    format!("nmap could not scan {target}: its XML output is unreadable ({e})")
                }
                Ok(_) => format!("nmap could not scan {target} (no such host on this network?)"),
            },
        });
        return v;
    };
    let lines: Vec<String> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let success = match script {
        "dicom-ping" => output.contains("Any AET is accepted"),
        _ => output.contains("Valid credentials") || output.contains("allows any AET"),
    };
    if script == "dicom-brute" {
        let valid: Vec<String> = lines
            .iter()
            .filter(|l| l.contains("Valid credentials"))
            .filter_map(|l| l.split(':').nth(1))
            .map(|l| l.trim_end_matches("- Valid credentials").trim().to_string())
            .collect();
        v.valid_aets = Some(valid);
    }
    v.discovered = Some(output.contains("DICOM Service Provider discovered"));
    v.output = Some(lines);
    v.success = success;
    v.ok = true;
    v
}

/// What an attacker's own capture holds: the step's JSON result of `harvest`.
pub fn harvest_result(analysis: &wire::Analysis, capture: &str) -> HarvestResult {
    let mut phi = analysis.phi_lines();
    phi.truncate(20);
    HarvestResult {
        action: "harvest".into(),
        ok: true,
        success: !analysis.phi.is_empty(),
        capture: capture.into(),
        packets: analysis.packets,
        dicom_events: analysis.events.len(),
        phi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The result as the step's JSON line.
    fn nmap(script: &str, target: &str, xml: &str) -> Value {
        serde_json::to_value(nmap_result(script, target, xml)).unwrap()
    }

    const PING_OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" args="nmap -Pn -n -sT -p 4242 --script dicom-ping -oX - pacs" start="1" version="7.93" xmloutputversion="1.05">
<host><status state="up" reason="user-set" reason_ttl="0"/>
<address addr="10.213.0.2" addrtype="ipv4"/>
<ports><port protocol="tcp" portid="4242"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="dicom" method="probed" conf="10"/><script id="dicom-ping" output="&#xa;  dicom: DICOM Service Provider discovered!&#xa;  config: Any AET is accepted (Insecure)"><elem key="dicom">DICOM Service Provider discovered!</elem>
<elem key="config">Any AET is accepted (Insecure)</elem>
</script></port>
</ports></host></nmaprun>"#;

    #[test]
    fn dicom_ping_any_aet_is_a_finding_and_a_check_is_not() {
        let v = nmap("dicom-ping", "pacs:4242", PING_OPEN);
        assert_eq!(v["success"], true, "{v}");
        assert_eq!(v["tool"], "nmap 7.93");
        assert_eq!(v["port"], "open");
        assert_eq!(v["discovered"], true);
        let checked =
            PING_OPEN.replace("Any AET is accepted (Insecure)", "Called AET check enabled");
        let v = nmap("dicom-ping", "pacs:4242", &checked);
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["ok"], true);
    }

    #[test]
    fn nmap_without_a_host_is_an_error_not_a_finding() {
        let xml = r#"<nmaprun scanner="nmap" version="7.93"><runstats><hosts up="0" down="0" total="0"/></runstats></nmaprun>"#;
        let v = nmap("dicom-ping", "pacs:4242", xml);
        assert_eq!(v["success"], false);
        assert_eq!(v["ok"], false);
        assert!(
            v["error"].as_str().unwrap().contains("could not scan"),
            "{v}"
        );
    }

    #[test]
    fn nmap_xml_with_its_doctype_parses_and_broken_xml_is_an_error() {
        let with_doctype = PING_OPEN.replacen(
            "?>\n",
            "?>\n<!DOCTYPE nmaprun>\n<?xml-stylesheet href=\"file:///usr/bin/../share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n",
            1,
        );
        let v = nmap("dicom-ping", "pacs:4242", &with_doctype);
        assert_eq!(v["success"], true, "{v}");
        let v = nmap("dicom-ping", "pacs:4242", &PING_OPEN[..PING_OPEN.len() / 2]);
        assert_eq!(v["ok"], false, "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("could not scan"),
            "{v}"
        );
    }

    #[test]
    fn dicom_brute_lists_valid_aets() {
        let xml = PING_OPEN.replace(
            r#"<script id="dicom-ping" output="&#xa;  dicom: DICOM Service Provider discovered!&#xa;  config: Any AET is accepted (Insecure)">"#,
            r#"<script id="dicom-brute" output="&#xa;  Accounts: &#xa;    Called Application Entity Title:ORTHANC - Valid credentials&#xa;  Statistics: Performed 5 guesses in 1 seconds, average tps: 5.0">"#,
        );
        let v = nmap("dicom-brute", "pacs:4242", &xml);
        assert_eq!(v["success"], true, "{v}");
        assert_eq!(v["valid_aets"], json!(["ORTHANC"]));
    }

    #[test]
    fn a_signing_store_signs_what_it_generated_and_sends_what_it_signed() {
        let lab = crate::test_support::lab("signed-tamper-evident");
        let step = &lab.steps[0];
        let scenario::Action::Store { study, .. } = &step.action else {
            panic!("a store step");
        };
        let target = crate::run::step_target(&lab, "modality", "pacs", "attacker");
        let [generate, sign, store] = signed_store_cmds(&step.id, study, target).unwrap();
        let after = |cmd: &[String], flag: &str| {
            let i = cmd.iter().position(|w| w == flag).unwrap();
            cmd[i + 1].clone()
        };
        let made = after(&generate, "--out");
        // sh -c SCRIPT $0 made signed key cert
        assert_eq!(&sign[..2], ["sh", "-c"]);
        assert!(sign[2].contains("dcmsign --sign"), "{sign:?}");
        assert_eq!(sign[4], made);
        assert_eq!(after(&store, "--files"), sign[5]);
        assert!(sign[6].ends_with("/signer.key") && sign[7].ends_with("/signer.pem"));
        assert_eq!(after(&store, "--host"), "attacker");
    }

    #[test]
    fn the_paper_context_needs_no_extra_but_ct_does() {
        let mut study = Study {
            modality: "XA".into(),
            instances: 1,
            syntax: Syntax::JpegBaseline,
            patient: "DOE^JANE".into(),
            patient_id: "DR-0001".into(),
            seed: 1,
            rows: 64,
            cols: 64,
        };
        let cmd = pynetdicom_cmd(
            "store",
            "pacs",
            4242,
            "MODALITY",
            "ORTHANC",
            Some((&study, "/tmp/s")),
        );
        assert!(!cmd.contains(&"--extra-context".to_string()), "{cmd:?}");
        study.modality = "CT".into();
        study.syntax = Syntax::ExplicitLe;
        let cmd = pynetdicom_cmd(
            "store",
            "pacs",
            4242,
            "MODALITY",
            "ORTHANC",
            Some((&study, "/tmp/s")),
        );
        assert!(
            cmd.ends_with(&[
                "--extra-context".into(),
                "1.2.840.10008.5.1.4.1.1.2=1.2.840.10008.1.2.1".into()
            ]),
            "{cmd:?}"
        );
    }
}

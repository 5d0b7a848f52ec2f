//! `lab export compose`: a lab's topology as a docker compose file, for people who want
//! plain `docker compose up`. Same images, configuration, certificates and labels as a
//! `lab run`; the steps and checks stay with `lab` (the folder's README lists the steps as
//! `docker-compose exec` commands).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use scenario::{Action, NodeKind, Scenario};

use crate::EngineError;
use crate::images::Image;
use crate::limits::{self, NodeBudget, Role};
use crate::orthanc;
use crate::pki::RunCa;

/// Writes `<out>/docker-compose.yml` with the files it mounts; returns the compose file.
pub fn compose(scenario: &Scenario, out: &Path) -> Result<PathBuf, EngineError> {
    let lab = &scenario.metadata.name;
    let io = |what: &str| EngineError::io(format!("{what} in {}", out.display()));
    std::fs::create_dir_all(out).map_err(io("creating the folder"))?;
    // Stable per lab, unlike a run's random suffix, so the bridge names stay the same.
    let tag = hex::encode(&Sha256::digest(lab.as_bytes())[..2]);
    let project = format!("compose-{lab}");
    let labels = |node: &str| {
        json!({
            runtime::LABEL_RUN: project,
            runtime::LABEL_LAB: lab,
            runtime::LABEL_NODE: node,
        })
    };
    let bridge = |net: &str| {
        let index = scenario
            .networks
            .iter()
            .position(|n| n.name == net)
            .unwrap_or(0);
        format!("drc{tag}-{index}")
    };
    let ca = scenario
        .nodes
        .iter()
        .any(|n| {
            matches!(
                n.kind,
                NodeKind::Orthanc { tls: Some(_), .. } | NodeKind::Modality { tls: Some(_), .. }
            )
        })
        .then(|| RunCa::new(&project))
        .transpose()?;
    let attach = |node: &str, nets: &[String]| -> Value {
        let mut m = Map::new();
        for n in nets {
            m.insert(n.clone(), json!({ "aliases": [node] }));
        }
        Value::Object(m)
    };

    let mut services = Map::new();
    for node in &scenario.nodes {
        let name = node.name.as_str();
        let dir = out.join(name);
        let service = match &node.kind {
            NodeKind::Orthanc {
                version,
                aet,
                networks,
                config,
                tls,
                lua,
                verbose,
            } => {
                std::fs::create_dir_all(&dir).map_err(io("creating a node folder"))?;
                if let (Some(_), Some(ca)) = (tls, &ca) {
                    let id = ca.issue(name, true)?;
                    write(&dir.join("server.pem"), &id.cert_pem)?;
                    write(&dir.join("server.key"), &id.key_pem)?;
                    write(&dir.join("ca.pem"), &id.ca_pem)?;
                }
                // No grader account: REST stays as the lab configures it.
                let mut cfg = orthanc::config(
                    name,
                    aet,
                    tls.map(|t| t.require_client_certificate),
                    config,
                    "",
                );
                if let Some(obj) = cfg.as_object_mut()
                    && let Some(users) = obj
                        .get_mut("RegisteredUsers")
                        .and_then(Value::as_object_mut)
                {
                    users.remove(orthanc::GRADER_USER);
                }
                if let Some(script) = lua {
                    write(&dir.join("lab.lua"), script)?;
                    cfg["LuaScripts"] = json!([format!("{}/lab.lua", orthanc::CONFIG_DIR)]);
                }
                write(
                    &dir.join("orthanc.json"),
                    &serde_json::to_string_pretty(&cfg).expect("json"),
                )?;
                json!({
                    "image": Image::Orthanc { version: version.clone() }.tag(),
                    "command": orthanc::command(*verbose),
                    "environment": ["TCP_NODELAY=1"],
                    "volumes": [format!("./{name}:{}:ro", orthanc::CONFIG_DIR)],
                    "tmpfs": [format!("{}:{}", orthanc::STORAGE_DIR, orthanc::STORAGE_TMPFS)],
                    "networks": attach(name, networks),
                    "labels": labels(name),
                    "healthcheck": {
                        "test": ["CMD", "curl", "-s", "-o", "/dev/null", format!("http://127.0.0.1:{}/system", orthanc::HTTP_PORT)],
                        "interval": "1s", "retries": 60,
                    },
                })
            }
            NodeKind::Modality { networks, tls, .. } => {
                let mut s = json!({
                    "image": crate::images::of_node(&node.kind).tag(),
                    "command": ["lab-agent", "idle"],
                    "networks": attach(name, networks),
                    "labels": labels(name),
                });
                if let (Some(_), Some(ca)) = (tls, &ca) {
                    std::fs::create_dir_all(&dir).map_err(io("creating a node folder"))?;
                    let id = ca.issue(name, false)?;
                    write(&dir.join("client.pem"), &id.cert_pem)?;
                    write(&dir.join("client.key"), &id.key_pem)?;
                    write(&dir.join("ca.pem"), &id.ca_pem)?;
                    s["volumes"] = json!([format!("./{name}:/etc/lab-agent:ro")]);
                }
                s
            }
            NodeKind::Attacker {
                networks, daemon, ..
            } => {
                let command = match daemon {
                    Some(d) => crate::run::daemon_cmd(scenario, node, d),
                    None => vec!["lab-agent".into(), "idle".into()],
                };
                json!({
                    "image": crate::images::of_node(&node.kind).tag(),
                    "command": command,
                    "networks": attach(name, networks),
                    "labels": labels(name),
                })
            }
            NodeKind::Sniffer { tap } | NodeKind::Ids { tap } => {
                let ids = matches!(node.kind, NodeKind::Ids { .. });
                let (verb, flag, file) = if ids {
                    ("ids", "--alerts", "alerts.jsonl")
                } else {
                    ("sniff", "--out", "capture.pcapng")
                };
                let mut command: Vec<String> = vec![
                    "lab-agent".into(),
                    verb.into(),
                    "--iface".into(),
                    bridge(tap),
                    flag.into(),
                    format!("/evidence/{file}"),
                ];
                if !ids {
                    command.extend([
                        "--max-bytes".into(),
                        limits::capture_bytes(node).to_string(),
                    ]);
                }
                json!({
                    "image": Image::Agent.tag(),
                    "command": command,
                    "network_mode": "host",
                    "volumes": [format!("./evidence/{name}:/evidence")],
                    "labels": labels(name),
                })
            }
        };
        // The same limits and capabilities as `lab run` (`limits`).
        let mut service = service;
        if let Value::Object(m) = &mut service {
            m.extend(NodeBudget::of(node).compose_keys(Role::of(&node.kind)));
        }
        services.insert(name.to_string(), service);
    }
    let mut networks = Map::new();
    for net in &scenario.networks {
        networks.insert(
            net.name.clone(),
            json!({
                "internal": net.internal,
                "driver": "bridge",
                "driver_opts": { "com.docker.network.bridge.name": bridge(&net.name) },
                "labels": labels(&net.name),
            }),
        );
    }
    let mut doc = json!({ "version": "2.4", "services": services, "networks": networks });
    no_interpolation(&mut doc);
    let yaml = serde_saphyr::to_string(&doc)
        .map_err(|e| EngineError::Setup(format!("writing YAML: {e}")))?;
    // Everything below the comment is written by the serializer; the comment is the one
    // place free text meets the file raw. Validation refuses control characters in a
    // title, and the title is escaped here as well, so that it stays one comment line
    // whatever reaches this point (a line break would start a key of its own).
    let header = format!(
        "# {lab}: {}\n# Generated by `lab export compose {lab}`; images come from `lab images build`.\n\
         # Up: docker-compose up -d   Down: docker-compose down (or `lab down compose-{lab}`)\n",
        wire::terminal_safe(&scenario.metadata.title)
    );
    let file = out.join("docker-compose.yml");
    write(&file, &(header + &yaml))?;
    write(&out.join("README.md"), &readme(scenario))?;
    Ok(file)
}

fn write(path: &Path, text: &str) -> Result<(), EngineError> {
    std::fs::write(path, text).map_err(EngineError::io(format!("writing {}", path.display())))
}

/// Compose reads `$VAR` and `${VAR}` in every value as the host's environment
/// (`${HOME}` in an attacker's argument would become the exporting user's home; a shell
/// script's `$1` is refused as an invalid interpolation): every `$` is written `$$`, which
/// compose turns back into one `$`.
fn no_interpolation(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(a) => a.iter_mut().for_each(no_interpolation),
        Value::Object(m) => m.values_mut().for_each(no_interpolation),
        _ => {}
    }
}

/// `s` as one shell word: single-quoted, each `'` written `'\''` (a patient name such as
/// O'BRIEN, or one made to end the quote, stays one argument of the command shown).
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The lab's steps as commands to type once the compose project is up.
fn readme(s: &Scenario) -> String {
    let mut out = format!(
        "# {} (exported)\n\n{}\n\n```sh\ndocker-compose up -d\n",
        s.metadata.name,
        s.metadata
            .description
            .as_deref()
            .unwrap_or(&s.metadata.title)
            .trim()
    );
    for step in &s.steps {
        let target = step.via.as_deref().unwrap_or(step.action.target());
        let called = s
            .nodes
            .iter()
            .find(|n| n.name == step.action.target())
            .and_then(|n| n.aet())
            .unwrap_or("ORTHANC");
        let extra = match &step.action {
            Action::Store { study, .. } => format!(
                " --modality {} --instances {} --syntax {} --patient {}",
                study.modality,
                study.instances,
                study.syntax.as_str(),
                sh_quote(&study.patient)
            ),
            _ => String::new(),
        };
        let tls = match s
            .nodes
            .iter()
            .find(|n| n.name == step.node)
            .map(|n| &n.kind)
        {
            Some(NodeKind::Modality { tls: Some(t), .. }) => format!(
                " --tls --ca /etc/lab-agent/ca.pem --server-name {}{}",
                step.action.target(),
                if t.client_certificate {
                    " --cert /etc/lab-agent/client.pem --key /etc/lab-agent/client.key"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "docker-compose exec -T {} lab-agent {} --host {target} --called {called}{extra}{tls}\n",
            step.node,
            step.action.verb()
        ));
    }
    out.push_str(
        "docker-compose down\n```\n\nGrading stays with `lab run`; see docs/scenarios.md.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn lab(name: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../labs")
            .join(format!("{name}.yaml"));
        scenario::load(&path, &BTreeMap::new()).unwrap()
    }

    /// Validation refuses a title with a line break; were one to reach the export all the
    /// same, the generated file still has only the keys the export writes: the title is
    /// one escaped comment line, never YAML of its own.
    #[test]
    fn a_title_cannot_add_keys_to_the_compose_file() {
        let mut s = lab("plaintext-store");
        s.metadata.title =
            "x\nservices:\n  evil: { image: alpine, privileged: true }\nx-injected: 1 # \r\x1b[2J"
                .into();
        s.metadata.description = Some("line one\n```\nrm -rf /\n```".into());
        if let Action::Store { study, .. } = &mut s.steps[1].action {
            study.patient = "O'BRIEN^X'; touch /tmp/pwned; '".into();
        }
        let out = tempfile::tempdir().unwrap();
        let file = compose(&s, out.path()).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["networks", "services", "version"], "{text}");
        let services: Vec<&String> = doc["services"].as_object().unwrap().keys().collect();
        assert_eq!(services, ["modality", "pacs", "sniffer"], "{text}");
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("# plaintext-store: x\\nservices:"),
            "{first}"
        );
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
        // A `$` reaches the container as written, never the host's environment.
        let command = doc["services"]["pacs"]["command"].to_string();
        assert!(command.contains("u=$$1 d=$$2"), "{command}");
        assert!(
            !text.replace("$$", "").contains('$'),
            "a `$` compose would interpolate:\n{text}"
        );
        // The README's commands quote the patient name for the shell.
        let readme = std::fs::read_to_string(out.path().join("README.md")).unwrap();
        assert!(
            readme.contains(r#"--patient 'O'\''BRIEN^X'\''; touch /tmp/pwned; '\'''"#),
            "{readme}"
        );
    }
}

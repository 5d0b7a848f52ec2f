//! A lab step's or daemon's lab-agent command, from what the engine knows of the lab (the
//! target, AE titles, TLS files, resolved addresses) and the step's `with:` options. The
//! engine never names a subcommand's flags: it hands its facts here.

use crate::argv::{WithError, from_with};
use crate::attack::*;
use crate::command::*;
use crate::{AttackCommand, Command, IdsRule};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// What the engine knows of a step's target.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTarget {
    /// Where the acting node connects (the PACS, or the proxy in between).
    pub host: String,
    pub dicom_port: u16,
    /// Orthanc's REST API as the acting node reaches it.
    pub url: String,
    /// The acting node's AE title, if the lab gives one.
    pub calling: Option<String>,
    /// The PACS's AE title, if the lab gives one.
    pub called: Option<String>,
    pub tls: TlsArgs,
    /// The study of a `store`.
    pub study: Option<StudyArgs>,
    /// `arp-spoof`: the victim's address and the address impersonated.
    pub arp: Option<(Ipv4Addr, Ipv4Addr)>,
}

impl StepTarget {
    fn peer(&self) -> PeerArgs {
        PeerArgs {
            host: self.host.clone(),
            port: self.dicom_port,
            calling: self
                .calling
                .clone()
                .unwrap_or_else(|| PeerArgs::DEFAULT_CALLING.into()),
            called: self.called(),
            timeout_secs: PeerArgs::DEFAULT_TIMEOUT_SECS,
            username: None,
            password: None,
            tls: self.tls.clone(),
        }
    }

    fn called(&self) -> String {
        self.called
            .clone()
            .unwrap_or_else(|| PeerArgs::DEFAULT_CALLED.into())
    }

    fn scanner(&self) -> String {
        self.calling.clone().unwrap_or_else(|| SCANNER_AET.into())
    }

    fn rest(&self) -> RestArgs {
        RestArgs {
            url: self.url.clone(),
            timeout_secs: RestArgs::DEFAULT_TIMEOUT_SECS,
        }
    }
}

/// Only lab-agent's own options of `with` (the engine's keys, such as an ARP victim, stay
/// with the engine).
fn agent_with(
    table: Option<&[(&str, crate::options::OptionKind)]>,
    with: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let table = table.unwrap_or(&[]);
    with.iter()
        .filter(|(k, _)| table.iter().any(|(t, _)| t == k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The command a step with action `verb` runs.
pub fn step_command(
    verb: &str,
    target: &StepTarget,
    with: &BTreeMap<String, Value>,
) -> Result<Command, WithError> {
    let with = agent_with(crate::options::step_options(verb), with);
    let attack = Command::Attack;
    Ok(match verb {
        "echo" => Command::Echo {
            peer: target.peer(),
            wait_secs: 0,
        },
        "store" => Command::Store {
            peer: target.peer(),
            study: target
                .study
                .clone()
                .ok_or_else(|| WithError::new("a store step needs a study"))?,
            opts: from_with(&with)?,
        },
        "find" => Command::Find {
            peer: target.peer(),
            query: from_with(&with)?,
        },
        "move" => Command::Move {
            peer: target.peer(),
            query: from_with(&with)?,
        },
        "get" => Command::Get {
            peer: target.peer(),
            query: from_with(&with)?,
        },
        "aet-scan" => attack(AttackCommand::AetScan {
            host: target.host.clone(),
            port: target.dicom_port,
            calling: target.scanner(),
            opts: from_with(&with)?,
        }),
        "flood" => attack(AttackCommand::Flood {
            host: target.host.clone(),
            port: target.dicom_port,
            calling: target.scanner(),
            opts: from_with(&with)?,
        }),
        "fingerprint" => attack(AttackCommand::Fingerprint {
            host: target.host.clone(),
            port: target.dicom_port,
            called: target.called(),
            url: Some(target.url.clone()),
            opts: from_with(&with)?,
        }),
        "rest-probe" => attack(AttackCommand::RestProbe {
            rest: target.rest(),
            opts: from_with(&with)?,
        }),
        "rest-write" => attack(AttackCommand::RestWrite {
            rest: target.rest(),
            opts: from_with(&with)?,
        }),
        "upload-polyglot" => attack(AttackCommand::UploadPolyglot {
            rest: target.rest(),
            opts: from_with(&with)?,
        }),
        "arp-spoof" => {
            let (victim, impersonate) = target
                .arp
                .ok_or_else(|| WithError::new("arp-spoof needs the victim's address"))?;
            attack(AttackCommand::ArpSpoof {
                iface: ArpSpoofOptions::DEFAULT_IFACE.into(),
                target: victim,
                impersonate,
                target_mac: None,
                opts: from_with(&with)?,
            })
        }
        other => return Err(WithError::new(format!("lab-agent runs no `{other}`"))),
    })
}

/// The readiness probe: a C-ECHO retried while the PACS is unreachable, for `wait_secs`.
pub fn readiness_echo(target: &StepTarget, wait_secs: u64) -> Command {
    Command::Echo {
        peer: target.peer(),
        wait_secs,
    }
}

/// What the engine knows of a daemon (an attacker's main process).
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonTarget {
    /// `sniff`: the file written and its largest size.
    pub capture_out: PathBuf,
    pub max_bytes: Option<u64>,
    /// `proxy`: where it listens, the PACS's `host:port`, and its time limit.
    pub listen: String,
    pub upstream: String,
    pub max_secs: u64,
}

/// The command of daemon `daemon`.
pub fn daemon_command(
    daemon: &str,
    target: &DaemonTarget,
    with: &BTreeMap<String, Value>,
) -> Result<Command, WithError> {
    let with = agent_with(crate::options::daemon_options(daemon), with);
    Ok(match daemon {
        // The attacker's own interface: what reaches it, and nothing more.
        "sniff" => Command::Sniff(SniffArgs {
            iface: ArpSpoofOptions::DEFAULT_IFACE.into(),
            out: target.capture_out.clone(),
            snaplen: SniffArgs::DEFAULT_SNAPLEN,
            max_bytes: target.max_bytes,
        }),
        "proxy" => Command::Attack(AttackCommand::Proxy {
            listen: target.listen.clone(),
            upstream: target.upstream.clone(),
            max_secs: target.max_secs,
            opts: from_with(&with)?,
        }),
        other => {
            return Err(WithError::new(format!(
                "lab-agent runs no daemon `{other}`"
            )));
        }
    })
}

/// The IDS on `iface`, alerts into `out`: with only `rules` on at their thresholds, or
/// every rule at its default.
pub fn ids_command(iface: &str, out: &str, rules: Option<&[(IdsRule, u64)]>) -> Command {
    Command::Attack(AttackCommand::Ids {
        iface: iface.into(),
        alerts: out.into(),
        opts: rules.map_or_else(crate::argv::defaults, IdsOptions::with_rules),
    })
}

/// The sniffer on `iface`: pcapng into `out`, at most `max_bytes`.
pub fn sniff_command(iface: &str, out: &str, max_bytes: Option<u64>) -> Command {
    Command::Sniff(SniffArgs {
        iface: iface.into(),
        out: out.into(),
        snaplen: SniffArgs::DEFAULT_SNAPLEN,
        max_bytes,
    })
}

/// `generate` of a study into `out` (the files a pynetdicom modality then sends).
pub fn generate_command(study: StudyArgs, out: &str) -> Command {
    Command::Generate {
        study,
        out: out.into(),
    }
}

//! Streaming output: a Wireshark-like table and JSON lines, written as the analysis
//! goes (nothing is kept, so memory stays flat whatever the capture size).
//!
//! # JSON lines schema (`dicom-range/wire-timeline/v1`)
//!
//! One JSON object per line; its `"type"` says which:
//!
//! - `"event"`: an [`Event`](crate::Event) (all its fields, flattened);
//! - `"phi"`: a [`PhiSeen`](crate::PhiSeen);
//! - `"issue"`: a [`WireIssue`](crate::WireIssue);
//! - `"association"`: an [`Association`](crate::Association) summary, written when the
//!   association ends;
//! - `"totals"`: the last line, a [`Totals`](crate::Totals).
//!
//! Lines come in capture order. Fields are only ever added to this schema, never renamed
//! or removed; a reader must ignore fields it does not know.
//!
//! Given [`Hosts`] (a run's address map), event lines also carry `src_node` and `dst_node`
//! (the hosts owning those addresses, null for none), and association lines
//! `client_node`, `server_node`, `calling_aet_node` and `called_aet_node` (whose own AE
//! titles the ends presented).

use crate::terminal::terminal_safe as t;
use crate::{Association, Event, Hosts, PhiSeen, Sink, Totals, WireIssue};
use serde::Serialize;
use std::io::Write;

/// Identifier of the JSON lines schema above.
pub const TIMELINE_SCHEMA: &str = "dicom-range/wire-timeline/v1";

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(flatten)]
    item: &'a T,
}

/// A [`Sink`] writing JSON lines (schema in the module documentation).
pub struct JsonLines<W: Write> {
    out: W,
    hosts: Option<Hosts>,
    error: Option<std::io::Error>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            hosts: None,
            error: None,
        }
    }

    /// Lines naming the hosts behind the addresses (see the schema above).
    pub fn with_hosts(out: W, hosts: Hosts) -> Self {
        JsonLines {
            hosts: Some(hosts),
            ..JsonLines::new(out)
        }
    }

    fn line<T: Serialize>(&mut self, ty: &'static str, item: &T) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, &Tagged { ty, item })
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// Write the `totals` line, flush, and report the first write error.
    pub fn finish(mut self, totals: &Totals) -> std::io::Result<W> {
        self.line("totals", totals);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn event(&mut self, event: Event) {
        match self.hosts.take() {
            Some(hosts) => {
                self.line("event", &hosts.event(&event));
                self.hosts = Some(hosts);
            }
            None => self.line("event", &event),
        }
    }
    fn phi(&mut self, phi: PhiSeen) {
        self.line("phi", &phi);
    }
    fn issue(&mut self, issue: WireIssue) {
        self.line("issue", &issue);
    }
    fn association(&mut self, association: Association) {
        match self.hosts.take() {
            Some(hosts) => {
                self.line("association", &hosts.association(&association));
                self.hosts = Some(hosts);
            }
            None => self.line("association", &association),
        }
    }
}

/// A [`Sink`] writing the human table: one line per event (number, relative time,
/// `src -> dst`, Info), PHI and issues as they are found, and a summary block for each
/// association when it ends. Every field taken from the capture goes through
/// [`terminal_safe`](crate::terminal_safe): the table is meant for a terminal. Given
/// [`Hosts`], each address is shown with the host that owns it, and each association's
/// block says who its ends are and whose AE titles they claimed.
pub struct Table<W: Write> {
    out: W,
    n: u64,
    hosts: Option<Hosts>,
    error: Option<std::io::Error>,
}

impl<W: Write> Table<W> {
    pub fn new(out: W) -> Self {
        Table {
            out,
            n: 0,
            hosts: None,
            error: None,
        }
    }

    /// A table naming the hosts behind the addresses.
    pub fn with_hosts(out: W, hosts: Hosts) -> Self {
        Table {
            hosts: Some(hosts),
            ..Table::new(out)
        }
    }

    fn write(&mut self, text: &str) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(text.as_bytes())
        {
            self.error = Some(e);
        }
    }

    /// Write the totals line, flush, and report the first write error.
    pub fn finish(mut self, totals: &Totals) -> std::io::Result<W> {
        let line = format!(
            "{} packets, {} DICOM stream(s)\n",
            totals.packets, totals.dicom_streams
        );
        self.write(&line);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Sink for Table<W> {
    fn event(&mut self, e: Event) {
        self.n += 1;
        let line = match &self.hosts {
            None => format!(
                "{:>4} {:>12.6} {:<21} -> {:<21} {}\n",
                self.n,
                e.rel_time,
                t(&e.src),
                t(&e.dst),
                t(&e.info)
            ),
            Some(h) => {
                let named = |addr: &str| {
                    let who = h.owner(addr).unwrap_or("unknown");
                    format!("{} {}", t(who), t(addr))
                };
                format!(
                    "{:>4} {:>12.6} {:<30} -> {:<30} {}\n",
                    self.n,
                    e.rel_time,
                    named(&e.src),
                    named(&e.dst),
                    t(&e.info)
                )
            }
        };
        self.write(&line);
    }
    fn phi(&mut self, p: PhiSeen) {
        let line = format!(
            "     PHI in clear (stream {}): {} = {}\n",
            p.stream,
            t(&p.keyword),
            t(&p.value)
        );
        self.write(&line);
    }
    fn issue(&mut self, i: WireIssue) {
        let at = match (i.packet, i.stream) {
            (Some(p), Some(s)) => format!("packet {p}, stream {s}"),
            (Some(p), None) => format!("packet {p}"),
            (None, Some(s)) => format!("stream {s}"),
            (None, None) => "capture".into(),
        };
        let line = format!("     ISSUE ({at}): {}\n", t(&i.message));
        self.write(&line);
    }
    fn association(&mut self, a: Association) {
        let mut text = association_text(&a);
        if let Some(h) = &self.hosts {
            let (client, server) = h.ends(&a);
            text.push_str(&format!(
                "        endpoints: {} -> {}\n",
                t(&client.to_string()),
                t(&server.to_string())
            ));
        }
        self.write(&text);
    }
}

/// The summary block of an association, as the table prints it (AE titles escaped for a
/// terminal).
pub fn association_text(a: &Association) -> String {
    let aets = match (&a.calling_aet, &a.called_aet) {
        (Some(c), Some(d)) => format!(" {} -> {}", t(c), t(d)),
        _ => String::new(),
    };
    let mut s = format!(
        "     == association (stream {}){aets}, {} -> {}: {}{}, {:.6} s, {} PDUs / {} bytes from client, {} PDUs / {} bytes from server\n",
        a.stream,
        t(&a.client),
        t(&a.server),
        t(&a.outcome),
        if a.partial {
            " (start not captured)"
        } else {
            ""
        },
        a.duration,
        a.pdus_from_client,
        a.bytes_from_client,
        a.pdus_from_server,
        a.bytes_from_server,
    );
    let counts: Vec<String> = a
        .pdu_counts
        .iter()
        .map(|(k, v)| format!("{} {v}", t(k)))
        .collect();
    s.push_str(&format!("        PDUs: {}\n", counts.join(", ")));
    for l in &a.latency {
        let ms = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.3}", v * 1e3));
        s.push_str(&format!(
            "        {}: {} request(s), {} answered, latency ms min/mean/max {}/{}/{}\n",
            t(&l.command),
            l.requests,
            l.answered,
            ms(l.min),
            ms(l.mean),
            ms(l.max)
        ));
    }
    if a.unanswered > 0 {
        s.push_str(&format!("        {} request(s) unanswered\n", a.unanswered));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IssueKind;

    /// A hostile AE title, PHI value and issue text reach the table as visible escapes:
    /// nothing the terminal would act on (clear the screen, return to the line's start).
    #[test]
    fn the_table_escapes_what_the_capture_says() {
        let mut table = Table::new(Vec::new());
        table.phi(PhiSeen {
            stream: 1,
            time: 0.0,
            keyword: "PatientName".into(),
            value: "DOE^JOHN\rPASS^ALL".into(),
        });
        table.issue(WireIssue {
            kind: IssueKind::Pdu,
            packet: Some(3),
            stream: None,
            direction: None,
            offset: None,
            time: None,
            message: "bad PDU \x1b]0;owned\x07".into(),
        });
        table.association(Association {
            stream: 1,
            client: "10.0.0.2:4000".into(),
            server: "10.0.0.3:4242".into(),
            calling_aet: Some("EVIL\x1b[2J".into()),
            called_aet: Some("ORTHANC\u{9b}31m".into()),
            end: 1.0,
            duration: 1.0,
            outcome: "released".into(),
            ..Default::default()
        });
        let out = String::from_utf8(table.out).unwrap();
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(out.contains("PatientName = DOE^JOHN\\rPASS^ALL\n"), "{out}");
        assert!(out.contains("EVIL\\x1b[2J -> ORTHANC\\u{9b}31m"), "{out}");
        assert!(out.contains("bad PDU \\x1b]0;owned\\x07"), "{out}");
    }

    /// With hosts, the table and the JSON lines name the host behind each address and say
    /// whose AE title an end claimed; a hostile host name stays escaped.
    #[test]
    fn hosts_name_the_addresses_in_the_table_and_the_json_lines() {
        let hosts = || {
            Hosts::new(vec![
                crate::Host {
                    name: "attacker".into(),
                    addresses: vec!["10.0.0.4".parse().unwrap()],
                    aet: None,
                },
                crate::Host {
                    name: "modality\x1b[2J".into(),
                    addresses: vec!["10.0.0.3".parse().unwrap()],
                    aet: Some("MODALITY".into()),
                },
            ])
        };
        let association = Association {
            stream: 1,
            client: "10.0.0.4:4000".into(),
            server: "10.0.0.2:4242".into(),
            calling_aet: Some("MODALITY".into()),
            called_aet: Some("ORTHANC".into()),
            end: 1.0,
            duration: 1.0,
            outcome: "released".into(),
            ..Default::default()
        };
        let event = Event {
            time: 0.0,
            rel_time: 0.0,
            stream: 1,
            src: "10.0.0.4:4000".into(),
            dst: "10.0.0.2:4242".into(),
            pdu: "A-ASSOCIATE-RQ".into(),
            label: "A-ASSOCIATE-RQ".into(),
            info: "A-ASSOCIATE request MODALITY --> ORTHANC".into(),
            calling_aet: Some("MODALITY".into()),
            called_aet: Some("ORTHANC".into()),
            dimse: None,
            packet: 1,
            pdu_offset: 0,
        };
        let mut table = Table::with_hosts(Vec::new(), hosts());
        table.event(event.clone());
        table.association(association.clone());
        let out = String::from_utf8(table.out).unwrap();
        assert!(out.contains("attacker 10.0.0.4:4000"), "{out}");
        assert!(out.contains("unknown 10.0.0.2:4242"), "{out}");
        assert!(
            out.contains(
                "endpoints: attacker 10.0.0.4:4000 (claims AET MODALITY, the AE title of modality\\x1b[2J) -> unknown host 10.0.0.2:4242 (claims AET ORTHANC)"
            ),
            "{out}"
        );
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");

        let mut lines = JsonLines::with_hosts(Vec::new(), hosts());
        lines.event(event);
        lines.association(association);
        let text = String::from_utf8(lines.out).unwrap();
        let v: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["type"], "event");
        assert_eq!(v[0]["src_node"], "attacker");
        assert_eq!(v[0]["dst_node"], serde_json::Value::Null);
        assert_eq!(v[0]["info"], "A-ASSOCIATE request MODALITY --> ORTHANC");
        assert_eq!(v[1]["type"], "association");
        assert_eq!(v[1]["client_node"], "attacker");
        assert_eq!(v[1]["calling_aet_node"], "modality\x1b[2J");
        assert_eq!(v[1]["calling_aet"], "MODALITY");
    }
}

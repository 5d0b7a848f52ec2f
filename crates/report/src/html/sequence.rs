//! The sequence section: one paper-style diagram per association (TCP stream), requests
//! left to right, responses back, long runs of data-set fragments folded, the PHI read
//! off a data set under its arrow.

use std::collections::BTreeMap;

use maud::{Markup, html as page};
use wire::{Analysis, Endpoint, Event};

use super::{MAX_DETAILS, t};
use crate::names::{Connection, connection};

/// At most this many association diagrams are drawn; the rest are counted.
const MAX_DIAGRAMS: usize = 24;
/// At most this many rows per diagram.
const MAX_ROWS: usize = 80;
/// Runs of consecutive data-set fragments longer than this are folded.
const FOLD_FRAGMENTS: usize = 3;

enum Row {
    Event(usize),
    Fold {
        count: usize,
        first: usize,
        last: usize,
    },
    More(usize),
}

/// The sequence section. `named` are the connections with their ends named (the report's
/// `associations`); a stream not among them is drawn with its ends named by address only.
pub(super) fn section(analysis: Option<&Analysis>, named: &[Connection]) -> Markup {
    page! {
        section #sequence {
            h2 { "DICOM sequence diagram" }
            @match analysis {
                None => {
                    p.muted { "No capture could be analysed (capture.pcapng is missing or unreadable): no sequence to draw." }
                }
                Some(a) if a.events.is_empty() => {
                    p.muted { "The capture (" (a.packets) " packets) holds no DICOM or TLS traffic." }
                }
                Some(a) => { (diagrams(a, named)) }
            }
        }
    }
}

fn diagrams(a: &Analysis, named: &[Connection]) -> Markup {
    let t0 = a.events[0].time;
    // Streams in order of first appearance.
    let mut order: Vec<u32> = Vec::new();
    let mut by_stream: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, e) in a.events.iter().enumerate() {
        by_stream
            .entry(e.stream)
            .or_insert_with(|| {
                order.push(e.stream);
                Vec::new()
            })
            .push(i);
    }
    // PHI attached to the data-set event that completed it (same stream, last event at
    // or before the PHI's time).
    let mut phi_at: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for p in &a.phi {
        if let Some(idx) = by_stream.get(&p.stream).and_then(|ix| {
            ix.iter()
                .copied()
                .rfind(|&i| a.events[i].time <= p.time && a.events[i].pdu == "P-DATA-TF")
        }) {
            let v = phi_at.entry(idx).or_default();
            let item = format!("{}={}", p.keyword, p.value);
            if !v.contains(&item) {
                v.push(item);
            }
        }
    }
    let by_address = named
        .iter()
        .any(|c| c.client.node.is_some() || c.server.node.is_some());
    page! {
        p {
            "Each diagram is one association (one TCP connection) as the sniffer saw it, like \
             the paper's listings: arrows from the requestor (left) to the acceptor (right) are \
             requests, arrows back are responses. "
            b { "T" sub { "n" } }
            " numbers every event of the capture in order; times are relative to T" sub { "0" }
            ", the first DICOM event."
        }
        p {
            "Each end is named by the node that owns its address (the run's "
            code { "addresses.json" } "); the AE title under it is only what it claimed, in red \
             when it is another node's title: an AE title is a name anyone can send."
            @if !by_address {
                " "
                b { "No address here belongs to a node of the lab" }
                " (the run directory has no address map, or the capture comes from elsewhere): \
                 ends are shown by address, with the titles they claimed."
            }
        }
        p.legend {
            "Legend:"
            i style="background:var(--rq)" {} "request"
            i style="background:var(--rsp)" {} "response"
            i style="background:var(--frag)" {} "data-set fragment"
            i style="background:var(--tls)" {} "TLS"
            i style="background:#dc2626" {} "reject, abort or failure status"
        }
        @for (n, stream) in order.iter().take(MAX_DIAGRAMS).enumerate() {
            (association(a, n, *stream, &by_stream[stream], t0, &phi_at, named))
        }
        @if order.len() > MAX_DIAGRAMS {
            p.muted {
                (order.len() - MAX_DIAGRAMS)
                " more connection(s) not drawn; the whole timeline is in timeline.json."
            }
        }
        @if !a.errors.is_empty() {
            details {
                summary { (a.errors.len()) " malformed thing(s) in the capture" }
                pre {
                    @for e in a.errors.iter().take(MAX_DETAILS) {
                        (t(&format!(
                            "{:?} packet {} stream {}: {}\n",
                            e.kind,
                            e.packet.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                            e.stream.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                            e.message
                        )))
                    }
                }
            }
        }
    }
}

/// The heading, the one-line summary and the diagram of one association.
fn association(
    a: &Analysis,
    n: usize,
    stream: u32,
    idx: &[usize],
    t0: f64,
    phi_at: &BTreeMap<usize, Vec<String>>,
    named: &[Connection],
) -> Markup {
    let sides = named
        .iter()
        .find(|c| c.stream == stream)
        .cloned()
        .unwrap_or_else(|| connection(a, stream, &wire::Hosts::default()));
    let assoc = a.associations.iter().find(|x| x.stream == stream);
    let tls = idx.iter().all(|&i| a.events[i].pdu.starts_with("TLS"));
    let mut services: Vec<String> = Vec::new();
    for &i in idx {
        if let Some(d) = &a.events[i].dimse {
            let svc = d
                .command
                .trim_end_matches("-RQ")
                .trim_end_matches("-RSP")
                .to_string();
            if d.command.ends_with("-RQ") && !services.contains(&svc) {
                services.push(svc);
            }
        }
    }
    let first = a.events[idx[0]].time - t0;
    let last = a.events[*idx.last().expect("a stream has an event")].time - t0;
    let what = if tls {
        "TLS (encrypted)".to_string()
    } else if services.is_empty() {
        "DICOM".to_string()
    } else {
        services.join(", ")
    };
    page! {
        h3 {
            "Association " (n + 1) " · TCP stream " (stream) " · " (t(&what))
            @if let Some(x) = assoc { " · " (t(&x.outcome)) }
        }
        p.muted {
            (t(&sides.client.to_string())) " → " (t(&sides.server.to_string())) " · " (idx.len()) " event(s) from "
            (format!("+{:.3} ms to +{:.3} ms", first * 1000.0, last * 1000.0))
        }
        (diagram(a, n, &sides, idx, t0, phi_at, tls))
    }
}

fn arrow_class(e: &Event, from_client: bool) -> &'static str {
    let bad_status = e
        .dimse
        .as_ref()
        .and_then(|d| d.status)
        .is_some_and(|s| s != 0 && s != 0xFF00 && s != 0xFF01);
    if e.pdu == "A-ABORT" || e.pdu == "A-ASSOCIATE-RJ" || bad_status {
        "bad"
    } else if e.pdu.starts_with("TLS") {
        "tls"
    } else if e.label == "P-DATA" {
        "frag"
    } else if from_client {
        "rq"
    } else {
        "rsp"
    }
}

fn colour(class: &str) -> &'static str {
    match class {
        "bad" => "#dc2626",
        "tls" => "#7c3aed",
        "frag" => "#94a3b8",
        "rq" => "#2563eb",
        _ => "#059669",
    }
}

/// Rows of one diagram: long runs of data-set fragments folded, the count capped.
fn rows(a: &Analysis, idx: &[usize]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut k = 0;
    while k < idx.len() {
        let e = &a.events[idx[k]];
        if e.label == "P-DATA" {
            let mut end = k;
            while end + 1 < idx.len()
                && a.events[idx[end + 1]].label == "P-DATA"
                && a.events[idx[end + 1]].src == e.src
            {
                end += 1;
            }
            let len = end - k + 1;
            if len > FOLD_FRAGMENTS {
                rows.push(Row::Event(idx[k]));
                rows.push(Row::Fold {
                    count: len - 2,
                    first: idx[k + 1],
                    last: idx[end - 1],
                });
                rows.push(Row::Event(idx[end]));
            } else {
                rows.extend((k..=end).map(|j| Row::Event(idx[j])));
            }
            k = end + 1;
        } else {
            rows.push(Row::Event(idx[k]));
            k += 1;
        }
    }
    if rows.len() > MAX_ROWS {
        let hidden: usize = rows[MAX_ROWS - 1..]
            .iter()
            .map(|r| match r {
                Row::Event(_) => 1,
                Row::Fold { count, .. } => *count,
                Row::More(c) => *c,
            })
            .sum();
        rows.truncate(MAX_ROWS - 1);
        rows.push(Row::More(hidden));
    }
    rows
}

const WIDTH: f64 = 940.0;
const XL: f64 = 240.0;
const XR: f64 = 820.0;
const MID: f64 = (XL + XR) / 2.0;
const HEAD_H: f64 = 80.0;
/// Half the width of a lifeline's head.
const HEAD_W: f64 = 115.0;

fn diagram(
    a: &Analysis,
    n: usize,
    sides: &Connection,
    idx: &[usize],
    t0: f64,
    phi_at: &BTreeMap<usize, Vec<String>>,
    tls: bool,
) -> Markup {
    let rows = rows(a, idx);
    let y0 = HEAD_H + 20.0;
    let row_h = 50.0;
    let phi_h = 18.0;
    let heights: Vec<f64> = rows
        .iter()
        .map(|r| match r {
            Row::Event(i) if phi_at.contains_key(i) => row_h + phi_h,
            Row::Event(_) => row_h,
            _ => 34.0,
        })
        .collect();
    let total: f64 = heights.iter().sum();
    let tail = if tls { 40.0 } else { 14.0 };
    let height = y0 + total + tail;
    // The top of each row.
    let tops: Vec<f64> = heights
        .iter()
        .scan(y0, |y, h| {
            let top = *y;
            *y += h;
            Some(top)
        })
        .collect();
    let end = y0 + total;

    // A lifeline and its head: the node owning the address, what it claimed, the address.
    let head = |x: f64, side: &str, end: &Endpoint, fill: &str, stroke: &str| {
        let impostor = end.impersonates();
        let claim = match (&end.aet, &end.aet_node) {
            (Some(ae), Some(owner)) if end.node.as_ref() == Some(owner) => {
                format!("AET {ae}, its own")
            }
            (Some(ae), _) => format!("claims AET {ae}"),
            (None, _) if tls => "AE title hidden by TLS".into(),
            (None, _) => "AE title not seen".into(),
        };
        let whose = end
            .aet_node
            .as_ref()
            .filter(|_| impostor)
            .map(|owner| format!("the AE title of {owner}"));
        let (stroke, claim_fill) = if impostor {
            ("#dc2626", "#b91c1c")
        } else {
            (stroke, "#334155")
        };
        page! {
            g.lifeline.impostor[impostor] data-side=(side)
                data-node=(t(end.node.as_deref().unwrap_or("")))
                data-address=(t(&end.address)) data-aet=[end.aet.as_deref().map(t)]
                data-aet-node=[end.aet_node.as_deref().map(t)] {
                line x1=(x) y1=(HEAD_H) x2=(x) y2=(height - 4.0) stroke="#94a3b8"
                    stroke-width="1.5" stroke-dasharray="5 5" {}
                rect x=(x - HEAD_W) y="4" width=(2.0 * HEAD_W) height=(HEAD_H - 6.0) rx="9"
                    fill=(fill) stroke=(stroke) stroke-width=(if impostor { "2.5" } else { "1.5" }) {}
                text.node x=(x) y="23" text-anchor="middle" font-size="15" font-weight="750"
                    letter-spacing=".05em" { (t(&end.name())) }
                text.claim x=(x) y="40" text-anchor="middle" font-size="11.5" fill=(claim_fill)
                    font-weight=(if impostor { "700" } else { "400" }) class="mono" { (t(&claim)) }
                @if let Some(whose) = &whose {
                    text.whose x=(x) y="55" text-anchor="middle" font-size="11.5"
                        fill=(claim_fill) font-weight="700" class="mono" { (t(whose)) }
                }
                text.address x=(x) y="71" text-anchor="middle" font-size="11" fill="#64748b"
                    class="mono" { (t(&end.address)) }
            }
        }
    };

    page! {
        div.diagram {
            svg.sequence id={ "sequence-" (n) } xmlns="http://www.w3.org/2000/svg"
                width=(WIDTH) height=(height) viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
                aria-label={ "DICOM sequence diagram, association " (n + 1) } {
                (head(XL, "requestor", &sides.client, "#eff6ff", "#2563eb"))
                (head(XR, "acceptor", &sides.server, "#ecfdf5", "#059669"))
                @for (r, y) in rows.iter().zip(&tops) {
                    @match r {
                        Row::Event(i) => { (arrow(a, *i, sides, t0, *y, phi_at.get(i))) }
                        Row::Fold { count, first, last } => {
                            g.fold { text x=(MID) y=(y + 21.0) text-anchor="middle"
                                font-size="12.5" fill="#64748b" {
                                "⋮ " (count) " more data-set fragments (T" (first) " – T" (last) ") ⋮"
                            } }
                        }
                        Row::More(count) => {
                            g.fold { text x=(MID) y=(y + 21.0) text-anchor="middle"
                                font-size="12.5" fill="#64748b" {
                                "⋮ " (count) " more event(s) not drawn: see timeline.json ⋮"
                            } }
                        }
                    }
                }
                @if tls {
                    text x=(MID) y=(end + 22.0) text-anchor="middle" font-size="12.5"
                        fill="#6d28d9" font-style="italic" {
                        "after the handshake every byte is encrypted: no DICOM PDU, AE title or \
                         patient data readable"
                    }
                }
            }
        }
    }
}

/// One event's arrow, its T number, time and Info text, and the PHI it carried.
fn arrow(
    a: &Analysis,
    i: usize,
    sides: &Connection,
    t0: f64,
    y: f64,
    phi: Option<&Vec<String>>,
) -> Markup {
    let e = &a.events[i];
    let (client, server) = (&sides.client.address, &sides.server.address);
    let from_client = e.src == *client || (e.src != *server && e.dst == *server);
    let class = arrow_class(e, from_client);
    let c = colour(class);
    let ay = y + 26.0;
    let (x1, x2) = if from_client { (XL, XR) } else { (XR, XL) };
    let tip = if from_client { x2 - 1.0 } else { x2 + 1.0 };
    let back = if from_client { tip - 11.0 } else { tip + 11.0 };
    let stroke_w = if class == "frag" { 1.6 } else { 2.2 };
    let dash = (class == "frag").then_some("6 4");
    let label = if e.label == "P-DATA" {
        "P-DATA (data set)".to_string()
    } else {
        e.label.clone()
    };
    let rel = (e.time - t0) * 1000.0;
    let tx = XL - 40.0;
    let phi_text = phi.map(|p| phi_summary(p));
    page! {
        g class={ "arrow " (class) } data-dir=(if from_client { "rq" } else { "rsp" })
            data-label=(t(&e.label)) data-t=(i) {
            text x=(tx) y=(ay - 2.0) text-anchor="end" font-size="14" font-weight="700"
                fill="#0f172a" { "T" tspan font-size="10.5" dy="3" { (i) } }
            text x=(tx) y=(ay + 14.0) text-anchor="end" font-size="12" fill="#475569"
                class="mono" { (format!("+{rel:.3} ms")) }
            line x1=(x1) y1=(ay) x2=(back) y2=(ay) stroke=(c) stroke-width=(stroke_w)
                stroke-dasharray=[dash] {}
            polygon points={ (tip) "," (ay) " " (back) "," (ay - 5.0) " " (back) "," (ay + 5.0) }
                fill=(c) {}
            text x=(MID) y=(ay - 7.0) text-anchor="middle" font-size="13.5" font-weight="650"
                fill=(c) { (t(&label)) }
            text x=(MID) y=(ay + 16.0) text-anchor="middle" font-size="12" fill="#334155"
                class="mono info" { (t(&clip(&e.info, 88))) }
            @if let Some(text) = &phi_text {
                @let w = (text.chars().count() as f64 * 7.1 + 24.0).min(XR - XL - 16.0);
                rect x=(MID - w / 2.0) y=(ay + 22.0) width=(w) height="18" rx="4" fill="#fee2e2"
                    stroke="#fca5a5" {}
                text x=(MID) y=(ay + 35.0) text-anchor="middle" font-size="11.5" font-weight="650"
                    fill="#991b1b" class="mono phi" { (t(text)) }
            }
        }
    }
}

/// `PHI in clear: PatientName=DOE^JANE, PatientID=DR-0001 (+6 more)`: the identifying
/// attributes first, short enough for one line of the diagram.
fn phi_summary(items: &[String]) -> String {
    const FIRST: &[&str] = &["PatientName=", "PatientID=", "PatientBirthDate="];
    let mut sorted: Vec<&String> = items.iter().collect();
    sorted.sort_by_key(|s| {
        FIRST
            .iter()
            .position(|p| s.starts_with(p))
            .unwrap_or(FIRST.len())
    });
    let mut text = String::from("PHI in clear: ");
    let mut shown = 0;
    for item in &sorted {
        let item = clip(item, 40);
        if shown > 0 && text.chars().count() + item.chars().count() > 66 {
            break;
        }
        if shown > 0 {
            text.push_str(", ");
        }
        text.push_str(&item);
        shown += 1;
    }
    if shown < sorted.len() {
        text.push_str(&format!(" (+{} more)", sorted.len() - shown));
    }
    text
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use crate::names::tests::{proxy_analysis, proxy_map};
    use crate::names::{connections, hosts};

    /// The lifeline heads of each diagram: `(side, node, aet, aet node)`.
    fn heads(page: &str) -> Vec<Vec<(String, String, String)>> {
        let attr = |part: &str, name: &str| {
            let key = format!("{name}=\"");
            part.find(&key)
                .map(|i| {
                    let rest = &part[i + key.len()..];
                    rest[..rest.find('"').unwrap()].to_string()
                })
                .unwrap_or_default()
        };
        page.split("<svg class=\"sequence\"")
            .skip(1)
            .map(|svg| {
                svg.split("<g class=\"lifeline")
                    .skip(1)
                    .map(|g| {
                        let g = &g[..g.find('>').unwrap()];
                        (
                            attr(g, "data-side"),
                            attr(g, "data-node"),
                            attr(g, "data-aet-node"),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// proxy-tamper: the attacker's address is drawn as the attacker in both associations,
    /// its borrowed titles as the modality's and the PACS's, in red.
    #[test]
    fn the_proxy_is_drawn_as_the_attacker_in_both_associations() {
        let analysis = proxy_analysis();
        let named = connections(&analysis, &hosts(&proxy_map()));
        let page = super::section(Some(&analysis), &named).into_string();
        let h = heads(&page);
        let side = |s: &str, n: &str, a: &str| (s.to_string(), n.to_string(), a.to_string());
        assert_eq!(
            h,
            [
                vec![
                    side("requestor", "modality", "modality"),
                    side("acceptor", "attacker", "pacs")
                ],
                vec![
                    side("requestor", "attacker", "modality"),
                    side("acceptor", "pacs", "pacs")
                ],
            ]
        );
        assert_eq!(page.matches("class=\"lifeline impostor\"").count(), 2);
        assert!(page.contains("the AE title of modality"), "{page}");
        assert!(page.contains("the AE title of pacs"), "{page}");
        assert!(!page.contains("No address here belongs"), "{page}");
    }

    /// Without names (no address map) every end is an unknown host claiming its title,
    /// and the page says why.
    #[test]
    fn without_a_map_the_ends_are_addresses_and_claims() {
        let analysis = proxy_analysis();
        let page = super::section(Some(&analysis), &[]).into_string();
        assert!(page.contains("No address here belongs"), "{page}");
        assert!(page.contains("unknown host 10.213.0.4"), "{page}");
        assert!(page.contains("claims AET MODALITY"), "{page}");
        assert!(!page.contains("data-node=\"attacker\""), "{page}");
    }
}

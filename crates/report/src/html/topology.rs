//! The topology section: the lab's networks as buses, hosts above them, sniffers and IDS
//! below on the bridge they tap, and a table of the nodes.

use maud::{Markup, html as page};
use scenario::Scenario;

use super::{inline, t};

pub(super) fn section(scenario: Option<&Scenario>) -> Markup {
    let Some(s) = scenario else {
        return page! {
            section #topology {
                h2 { "Topology" }
                p.muted { "The resolved lab file (scenario.yaml) could not be read: no topology to draw." }
            }
        };
    };
    page! {
        section #topology {
            h2 { "Topology" }
            (svg(s))
            table #nodes {
                thead { tr {
                    th { "Node" } th { "Kind" } th { "AE title" } th { "Networks" } th { "Details" }
                } }
                tbody { @for n in &s.nodes { (node_row(n)) } }
            }
        }
    }
}

fn node_row(n: &scenario::Node) -> Markup {
    let v = NodeView::of(n);
    let nets = match &v.tap {
        Some(t) => format!("taps {t}"),
        None => n.networks().join(", "),
    };
    let details = match (&v.tap, v.kind.as_str()) {
        (Some(t), "sniffer") => {
            format!("captures every packet on the bridge of `{t}` (capture.pcapng)")
        }
        (Some(t), _) => format!("watches the bridge of `{t}`"),
        (None, _) => {
            let mut d = Vec::new();
            if let Some(ver) = &v.version {
                d.push(format!("Orthanc {ver}, DICOM port 4242"));
            }
            if v.kind != "attacker" {
                d.push(if v.tls {
                    "DICOM TLS".into()
                } else {
                    "plain DICOM (no TLS)".into()
                });
            }
            d.join("; ")
        }
    };
    page! {
        tr {
            td { b.mono { (t(&n.name)) } }
            td { (t(&v.kind)) }
            td.mono { (t(n.aet().unwrap_or("–"))) }
            td { (t(&nets)) }
            td { (inline(&details)) }
        }
    }
}

/// What the page shows of a node, read through its serialised form so that node kinds
/// added to the scenario format later still render (as a generic box).
struct NodeView {
    kind: String,
    tap: Option<String>,
    tls: bool,
    version: Option<String>,
}

impl NodeView {
    fn of(n: &scenario::Node) -> NodeView {
        let v = serde_json::to_value(&n.kind).unwrap_or_default();
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        NodeView {
            kind: s("kind").unwrap_or_else(|| "node".into()),
            tap: s("tap"),
            tls: v.get("tls").is_some_and(|t| !t.is_null()),
            version: s("version"),
        }
    }
}

fn svg(s: &Scenario) -> Markup {
    let views: Vec<(&scenario::Node, NodeView)> =
        s.nodes.iter().map(|n| (n, NodeView::of(n))).collect();
    let hosts: Vec<&(&scenario::Node, NodeView)> =
        views.iter().filter(|(_, v)| v.tap.is_none()).collect();
    let sniffers: Vec<&(&scenario::Node, NodeView)> =
        views.iter().filter(|(_, v)| v.tap.is_some()).collect();
    let width = 1000.0;
    let left = 170.0;
    let span = width - left - 30.0;
    let box_w = 170.0_f64.min(span / hosts.len().max(1) as f64 - 16.0);
    let box_h = 58.0;
    let top = 14.0;
    let bus0 = top + box_h + 40.0;
    let bus_gap = 38.0;
    let nets: Vec<&str> = s.networks.iter().map(|n| n.name.as_str()).collect();
    let bus_y = |name: &str| -> Option<f64> {
        nets.iter()
            .position(|n| *n == name)
            .map(|i| bus0 + i as f64 * bus_gap)
    };
    let last_bus = bus0 + nets.len().saturating_sub(1) as f64 * bus_gap;
    let sniff_top = last_bus + 40.0;
    let height = if sniffers.is_empty() {
        last_bus + 24.0
    } else {
        sniff_top + box_h + 14.0
    };
    let slot = span / hosts.len().max(1) as f64;
    let sslot = span / sniffers.len().max(1) as f64;
    page! {
        div.diagram {
            svg #topology-svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
                viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="lab topology" {
                @for (i, n) in s.networks.iter().enumerate() {
                    @let y = bus0 + i as f64 * bus_gap;
                    g.network data-name=(t(&n.name)) {
                        line x1=(left) y1=(y) x2=(width - 20.0) y2=(y) stroke="#334155"
                            stroke-width="5" stroke-linecap="round" {}
                        text x=(left - 12.0) y=(y - 1.0) text-anchor="end" font-size="14"
                            font-weight="650" fill="#0f172a" { (t(&n.name)) }
                        text x=(left - 12.0) y=(y + 13.0) text-anchor="end" font-size="11.5"
                            fill="#64748b" { (if n.internal { "internal network" } else { "network" }) }
                    }
                }
                @for (i, (n, v)) in hosts.iter().map(|x| (x.0, &x.1)).enumerate() {
                    @let cx = left + 10.0 + slot * (i as f64 + 0.5);
                    @let (fill, stroke, kind) = match v.kind.as_str() {
                        "orthanc" => ("#ecfdf5", "#059669", "PACS (Orthanc)"),
                        "modality" => ("#eff6ff", "#2563eb", "modality"),
                        "attacker" => ("#fff7ed", "#ea580c", "attacker"),
                        k => ("#f8fafc", "#475569", k),
                    };
                    @for y in n.networks().iter().filter_map(|net| bus_y(net)) {
                        line x1=(cx) y1=(top + box_h) x2=(cx) y2=(y) stroke=(stroke)
                            stroke-width="2.5" {}
                        circle cx=(cx) cy=(y) r="5" fill=(stroke) {}
                    }
                    g.node data-name=(t(&n.name)) {
                        rect x=(cx - box_w / 2.0) y=(top) width=(box_w) height=(box_h) rx="9"
                            fill=(fill) stroke=(stroke) stroke-width="1.5" {}
                        text x=(cx) y=(top + 20.0) text-anchor="middle" font-size="14.5"
                            font-weight="700" class="mono" { (t(&n.name)) }
                        text x=(cx) y=(top + 36.0) text-anchor="middle" font-size="12"
                            fill="#334155" { (t(kind)) @if v.tls { " · TLS" } }
                        text x=(cx) y=(top + 51.0) text-anchor="middle" font-size="12"
                            fill="#475569" class="mono" { "AET " (t(n.aet().unwrap_or("-"))) }
                    }
                }
                @for (i, (n, v)) in sniffers.iter().map(|x| (x.0, &x.1)).enumerate() {
                    @let cx = left + 10.0 + sslot * (i as f64 + 0.5);
                    @let tap = v.tap.as_deref().unwrap_or("");
                    @let (role, what) = if v.kind == "sniffer" {
                        ("sniffer (eavesdropper)", "writes capture.pcapng")
                    } else {
                        ("IDS (watches)", "raises alerts")
                    };
                    @if let Some(y) = bus_y(tap) {
                        line x1=(cx) y1=(y) x2=(cx) y2=(sniff_top) stroke="#dc2626"
                            stroke-width="2" stroke-dasharray="6 4" {}
                        circle cx=(cx) cy=(y) r="5" fill="#fff" stroke="#dc2626" stroke-width="2" {}
                        text x=(cx + 9.0) y=((y + sniff_top) / 2.0 + 4.0) font-size="12"
                            fill="#b91c1c" { "tap (bridge of " (t(tap)) ")" }
                    }
                    g.node.sniffer data-name=(t(&n.name)) {
                        rect x=(cx - box_w / 2.0) y=(sniff_top) width=(box_w) height=(box_h)
                            rx="9" fill="#fef2f2" stroke="#dc2626" stroke-width="1.5"
                            stroke-dasharray="5 3" {}
                        text x=(cx) y=(sniff_top + 20.0) text-anchor="middle" font-size="14.5"
                            font-weight="700" class="mono" { (t(&n.name)) }
                        text x=(cx) y=(sniff_top + 36.0) text-anchor="middle" font-size="12"
                            fill="#334155" { (role) }
                        text x=(cx) y=(sniff_top + 51.0) text-anchor="middle" font-size="12"
                            fill="#475569" { (what) }
                    }
                }
            }
        }
    }
}

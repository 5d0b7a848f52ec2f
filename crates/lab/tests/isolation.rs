//! Isolation, by inspection and between the project's own containers only (never by
//! sending traffic to an outside address):
//! - a lab network is internal, and its nodes have no default route and no route through
//!   any gateway (their kernel routing table, read in the container);
//! - two runs at once cannot reach each other (each run's modality tries the other run's
//!   PACS) nor capture each other's traffic (a live capture of one run while both store).

mod common;

use common::*;

/// `lab up` of plaintext-store in `dir`; returns the run id and the PACS's address.
fn up(dir: &std::path::Path, patient: &str) -> (String, String) {
    let out = lab()
        .args(["up", "plaintext-store", "-p"])
        .arg(format!("patient={patient}"))
        .arg("--runs-dir")
        .arg(dir)
        .output()
        .unwrap();
    let stdout = expect_exit(&out, 0);
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("the lab is up: run "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    let ip = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("DICOM:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.split(':').next())
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    (id, ip)
}

fn down(dir: &std::path::Path) {
    expect_exit(&lab_in(dir, &["down", "--all"]), 0);
}

/// The rows of a container's IPv4 routing table: (destination, gateway, flags) in hex.
fn routes(container: &str) -> Vec<(String, String, u32)> {
    docker(&["exec", container, "cat", "/proc/net/route"])
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[1].to_string(),
                f[2].to_string(),
                u32::from_str_radix(f[3], 16).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_lab_network_has_no_way_out() {
    let dir = runs_dir("no-way-out");
    let (id, _) = up(&dir, "ISOLATED^ONE");
    let result = std::panic::catch_unwind(|| {
        let net = format!("lab-{id}-clinical");
        assert_eq!(
            docker(&[
                "network",
                "inspect",
                "-f",
                "{{.Internal}} {{.Driver}}",
                &net
            ])
            .trim(),
            "true bridge"
        );
        for node in ["pacs", "modality"] {
            let container = format!("lab-{id}-{node}");
            let table = routes(&container);
            assert!(!table.is_empty(), "{node}: no routes at all?");
            // RTF_GATEWAY (0x2): a route through a gateway; destination 0: default.
            for (dst, gw, flags) in &table {
                assert!(dst != "00000000", "{node} has a default route: {table:?}");
                assert!(
                    flags & 0x2 == 0 && gw == "00000000",
                    "{node} routes through a gateway: {table:?}"
                );
            }
            // Its only network is the lab's internal one.
            let nets = docker(&[
                "inspect",
                "-f",
                "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                &container,
            ]);
            assert_eq!(nets.trim(), net, "{node}");
        }
        // Still a working lab: the PACS answers its modality (on-link, no gateway needed).
        let echo = lab_exec(&id, "modality", &["lab-agent", "echo", "--host", "pacs"]);
        expect_exit(&echo, 0);
    });
    down(&dir);
    result.unwrap();
    assert_eq!(leftovers(&id), "");
}

#[test]
fn two_runs_cannot_reach_or_capture_each_other() {
    let dir = runs_dir("two-runs");
    let (a, a_ip) = up(&dir, "RUN^A");
    let result = std::panic::catch_unwind(|| {
        let (b, b_ip) = up(&dir, "RUN^B");
        assert_ne!(a, b);
        let prefix = |ip: &str| ip.rsplit_once('.').unwrap().0.to_string();
        assert_ne!(prefix(&a_ip), prefix(&b_ip), "the two runs share a subnet");

        // Reach: each run's modality tries the other run's PACS, by address (its name
        // resolves to its own run's PACS only). Both fail as unreachable (agent exit 4).
        for (from, to_ip) in [(&a, &b_ip), (&b, &a_ip)] {
            let out = lab_exec(from, "modality", &["lab-agent", "echo", "--host", to_ip]);
            let said = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(4), "{from} reached {to_ip}: {said}");
        }
        // Control: each reaches its own PACS.
        for run in [&a, &b] {
            let own = lab_exec(run, "modality", &["lab-agent", "echo", "--host", "pacs"]);
            expect_exit(&own, 0);
        }

        // Capture: a live capture of run A while both runs store.
        let mut cap = Running::spawn(lab().args(["capture", &a]));
        cap.wait_for("\"capturing\"", 60);
        for (run, patient) in [(&b, "ONLY^B"), (&a, "ONLY^A")] {
            let store = lab_exec(
                run,
                "modality",
                &["lab-agent", "store", "--host", "pacs", "--patient", patient],
            );
            assert!(expect_exit(&store, 0).contains("\"ok\":true"));
        }
        let analysis = stop_live_capture(cap, &dir.join("a-live.pcapng"));
        let names: Vec<&str> = analysis.phi.iter().map(|p| p.value.as_str()).collect();
        assert!(
            names.contains(&"ONLY^A"),
            "A's own store is missing: {names:?}"
        );
        assert!(
            !names.contains(&"ONLY^B"),
            "run A's capture saw run B: {names:?}"
        );
        // Nor any packet of B's subnet at all.
        let b_net = prefix(&b_ip);
        let tcpdump_like = analysis
            .events
            .iter()
            .filter(|e| format!("{e:?}").contains(&format!("{b_net}.")))
            .count();
        assert_eq!(tcpdump_like, 0, "events naming {b_net}.x in A's capture");
    });
    down(&dir);
    result.unwrap();
    assert_eq!(leftovers(&a), "");
}

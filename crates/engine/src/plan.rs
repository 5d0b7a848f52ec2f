//! Names, labels and addresses of one run, decided before anything is created.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rand::Rng;
use scenario::Scenario;

use runtime::{
    LABEL_LAB, LABEL_NODE, LABEL_OWNER_PID, LABEL_OWNER_START, LABEL_RUN, LABEL_RUNS_DIR,
};

/// First address of the pool lab subnets are cut from (a /16 split into /24s).
const POOL: [u8; 2] = [10, 213];

#[derive(Debug, Clone)]
pub struct RunPlan {
    /// `<lab>-<4 hex>`.
    pub id: String,
    pub lab: String,
    /// The 4 hex digits, which also name the bridges.
    pub suffix: String,
    /// Absolute path of the folder the run directory is made in (a label, so `lab gc`
    /// can save what a killed run left, and commands can be scoped to one folder).
    pub runs_dir: String,
}

impl RunPlan {
    pub fn new(scenario: &Scenario) -> RunPlan {
        Self::avoiding(scenario, &[], std::path::Path::new("runs"))
    }

    /// A plan whose 4 hex digits (and so its run id and bridge names) are not among
    /// `taken`: the suffixes of runs and bridges already on the daemon.
    pub fn avoiding(scenario: &Scenario, taken: &[String], runs_dir: &std::path::Path) -> RunPlan {
        let mut rng = rand::rng();
        let suffix = loop {
            let s = format!("{:04x}", rng.random::<u16>());
            if !taken.contains(&s) {
                break s;
            }
        };
        let runs_dir = std::path::absolute(runs_dir)
            .unwrap_or_else(|_| runs_dir.to_path_buf())
            .display()
            .to_string();
        RunPlan {
            id: format!("{}-{suffix}", scenario.metadata.name),
            lab: scenario.metadata.name.clone(),
            suffix,
            runs_dir,
        }
    }

    pub fn container(&self, node: &str) -> String {
        format!("lab-{}-{node}", self.id)
    }

    pub fn network(&self, net: &str) -> String {
        format!("lab-{}-{net}", self.id)
    }

    /// The host bridge of the lab network at `index`: short enough for a Linux
    /// interface name (15 characters), unique per run.
    pub fn bridge(&self, index: usize) -> String {
        format!("dr{}-{index}", self.suffix)
    }

    pub fn labels(&self, node: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_RUN.to_string(), self.id.clone()),
            (LABEL_LAB.to_string(), self.lab.clone()),
            (LABEL_NODE.to_string(), node.to_string()),
            (LABEL_OWNER_PID.to_string(), std::process::id().to_string()),
            (
                LABEL_OWNER_START.to_string(),
                process_start(std::process::id()).unwrap_or_default(),
            ),
            (LABEL_RUNS_DIR.to_string(), self.runs_dir.clone()),
        ])
    }
}

/// When process `pid` started (field 22 of `/proc/<pid>/stat`, clock ticks since boot),
/// or None when there is no such process. With the pid it names one process for good.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// The 4 hex digits that end a run id or a bridge name (`<lab>-1a2b`, `dr1a2b-0`).
pub fn suffix_of(name: &str) -> Option<String> {
    let tail = name
        .strip_prefix("dr")
        .and_then(|b| b.split_once('-').map(|(s, _)| s))
        .unwrap_or_else(|| name.rsplit_once('-').map(|(_, s)| s).unwrap_or(""));
    (tail.len() == 4 && tail.bytes().all(|b| b.is_ascii_hexdigit())).then(|| tail.to_string())
}

/// The /24s of the pool not overlapping any subnet in `used`, in order.
pub fn free_subnets(used: &[String]) -> impl Iterator<Item = String> + '_ {
    (0..=255u8).filter_map(move |third| {
        let candidate = Ipv4Addr::new(POOL[0], POOL[1], third, 0);
        let clash = used.iter().any(|cidr| overlaps(candidate, 24, cidr));
        (!clash).then(|| format!("{candidate}/24"))
    })
}

fn overlaps(a: Ipv4Addr, a_len: u32, cidr: &str) -> bool {
    let Some((ip, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(b), Ok(b_len)) = (ip.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
        return false;
    };
    let len = a_len.min(b_len);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(a) & mask) == (u32::from(b) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_of_runs_and_bridges() {
        assert_eq!(suffix_of("plaintext-store-1a2b").as_deref(), Some("1a2b"));
        assert_eq!(suffix_of("dr00ff-1").as_deref(), Some("00ff"));
        assert_eq!(suffix_of("docker0"), None);
        assert_eq!(suffix_of("compose-plaintext-store"), None);
    }

    #[test]
    fn this_process_has_a_start_time_and_a_dead_pid_none() {
        let me = process_start(std::process::id()).expect("own /proc entry");
        assert!(me.parse::<u64>().is_ok(), "{me}");
        assert_eq!(process_start(u32::MAX - 1), None);
    }

    #[test]
    fn subnets_skip_what_is_used() {
        let used = vec![
            "10.213.0.0/24".to_string(),
            "172.17.0.0/16".to_string(),
            "10.213.2.0/23".to_string(),
        ];
        let free: Vec<String> = free_subnets(&used).take(2).collect();
        assert_eq!(free, ["10.213.1.0/24", "10.213.4.0/24"]);
        let all = vec!["10.0.0.0/8".to_string()];
        assert_eq!(free_subnets(&all).count(), 0);
    }
}

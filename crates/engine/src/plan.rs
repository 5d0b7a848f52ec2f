//! Names, labels and addresses of one run, decided before anything is created.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rand::Rng;
use scenario::Scenario;

use runtime::{LABEL_LAB, LABEL_NODE, LABEL_OWNER_PID, LABEL_RUN};

/// First address of the pool lab subnets are cut from (a /16 split into /24s).
const POOL: [u8; 2] = [10, 213];

#[derive(Debug, Clone)]
pub struct RunPlan {
    /// `<lab>-<4 hex>`.
    pub id: String,
    pub lab: String,
    /// The 4 hex digits, which also name the bridges.
    pub suffix: String,
}

impl RunPlan {
    pub fn new(scenario: &Scenario) -> RunPlan {
        let suffix = format!("{:04x}", rand::rng().random::<u16>());
        RunPlan {
            id: format!("{}-{suffix}", scenario.metadata.name),
            lab: scenario.metadata.name.clone(),
            suffix,
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
        ])
    }
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

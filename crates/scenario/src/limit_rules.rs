//! A node's `limits:`: the resource limits it runs within, over the engine's defaults
//! for its kind. Each value is bounded here, so no lab file can ask for a limit that is
//! no limit (or one so small the node cannot start); the defaults themselves live with
//! the engine (`engine::limits`), which applies them to every container it creates.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::context::Ctx;

/// What a node's `limits:` sets; `None` keeps the engine's default for its kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NodeLimits {
    /// Bytes of memory (a PACS's storage tmpfs counts against it as it fills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Processes and threads at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<u32>,
    /// CPU weight against the other containers (Docker's default is 1024).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u32>,
    /// Bytes of the node's log kept by Docker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_size: Option<u64>,
    /// sniffer, attacker: the largest capture it writes; it stops capturing there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub memory: Option<Spanned<String>>,
    pub pids: Option<Spanned<u64>>,
    pub cpu_shares: Option<Spanned<u64>>,
    pub log_size: Option<Spanned<String>>,
    pub capture: Option<Spanned<String>>,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The accepted range of each limit (inclusive).
pub const MEMORY_RANGE: (u64, u64) = (32 * MIB, 64 * GIB);
pub const PIDS_RANGE: (u64, u64) = (16, 65_536);
/// Docker's own bounds for `--cpu-shares`.
pub const CPU_SHARES_RANGE: (u64, u64) = (2, 262_144);
pub const LOG_SIZE_RANGE: (u64, u64) = (MIB, GIB);
/// At most what the engine saves of one capture (4 GiB).
pub const CAPTURE_RANGE: (u64, u64) = (MIB, 4 * GIB);

/// The pattern of a size in a lab file: a number and a unit (k, m or g: powers of 1024).
pub const SIZE_PATTERN: &str = "^[0-9]{1,7}[kKmMgG]$";

/// Reads a size such as `512m` or `1g` (powers of 1024, as Docker reads them).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "k" | "K" => 1 << 10,
        "m" | "M" => MIB,
        "g" | "G" => GIB,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// A size for people: `256 MiB`, `1 GiB`, `1536 KiB`.
pub fn format_size(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Checks a node's `limits:` (kind `kind`); every problem names the node, the key and
/// what to write instead.
pub(crate) fn node_limits(
    cx: &mut Ctx,
    name: &str,
    kind: &str,
    raw: Option<&Spanned<RawLimits>>,
) -> NodeLimits {
    let Some(raw) = raw else {
        return NodeLimits::default();
    };
    let raw = &raw.value;
    let size = |cx: &mut Ctx, key: &str, v: &Option<Spanned<String>>, range: (u64, u64)| {
        let v = v.as_ref()?;
        let Some(bytes) = parse_size(&v.value) else {
            cx.at(
                v.referenced,
                format!("node `{name}`: `limits.{key}` is `{}`, not a size", v.value),
            )
            .hint = Some(format!(
                "write a number and a unit (k, m or g), e.g. `{key}: {}`",
                example(range)
            ));
            return None;
        };
        if !(range.0..=range.1).contains(&bytes) {
            cx.at(
                v.referenced,
                format!(
                    "node `{name}`: `limits.{key}` is {}, outside {} to {}",
                    format_size(bytes),
                    format_size(range.0),
                    format_size(range.1)
                ),
            )
            .hint = Some(format!(
                "write a size in that range, e.g. `{key}: {}`",
                example(range)
            ));
            return None;
        }
        Some(bytes)
    };
    let count = |cx: &mut Ctx, key: &str, v: &Option<Spanned<u64>>, range: (u64, u64)| {
        let v = v.as_ref()?;
        if !(range.0..=range.1).contains(&v.value) {
            cx.at(
                v.referenced,
                format!(
                    "node `{name}`: `limits.{key}` is {}, outside {} to {}",
                    v.value, range.0, range.1
                ),
            )
            .hint = Some(format!(
                "write a number in that range, or remove `{key}` to keep the default"
            ));
            return None;
        }
        u32::try_from(v.value).ok()
    };
    let limits = NodeLimits {
        memory: size(cx, "memory", &raw.memory, MEMORY_RANGE),
        pids: count(cx, "pids", &raw.pids, PIDS_RANGE),
        cpu_shares: count(cx, "cpu_shares", &raw.cpu_shares, CPU_SHARES_RANGE),
        log_size: size(cx, "log_size", &raw.log_size, LOG_SIZE_RANGE),
        capture: size(cx, "capture", &raw.capture, CAPTURE_RANGE),
    };
    if let Some(c) = &raw.capture
        && !matches!(kind, "sniffer" | "attacker")
    {
        cx.at(
            c.referenced,
            format!("node `{name}`: `limits.capture` does not apply to a node of kind {kind}"),
        )
        .hint = Some(
            "only a sniffer (and an attacker's `sniff` daemon) writes a capture; remove it".into(),
        );
    }
    limits
}

fn example(range: (u64, u64)) -> &'static str {
    if range.1 >= GIB && range.0 <= 512 * MIB {
        "512m"
    } else {
        "1g"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_reads_them() {
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        for bad in ["", "m", "1", "1t", "1.5g", "-1g", "12345678g", " g", "1 g"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(format_size(256 << 20), "256 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(1536 << 10), "1536 KiB");
    }
}

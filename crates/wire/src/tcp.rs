//! TCP reassembly of one direction of a connection.
//!
//! Small on purpose: out-of-order segments are buffered by stream offset, bytes already
//! delivered (retransmissions, overlaps) are dropped, and the buffered bytes are bounded;
//! beyond the bound the gap is skipped and reported.

use std::collections::BTreeMap;

/// Bytes handed to the upper layer, in stream order.
#[derive(Debug, PartialEq)]
pub(crate) struct Chunk {
    /// Offset of `data[0]` in the direction's byte stream.
    pub offset: u64,
    /// Bytes were lost (never captured) just before this chunk.
    pub gap_before: bool,
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    /// Sequence number of stream offset 0 (ISN + 1, or first seen seq).
    base: Option<u32>,
    /// Stream offset of the next byte to deliver.
    delivered: u64,
    /// Out-of-order bytes by stream offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    gap: bool,
    limit: usize,
}

impl Reassembler {
    pub fn new(limit: usize) -> Self {
        Reassembler {
            limit,
            ..Default::default()
        }
    }

    /// Sequence number of stream offset 0, once known.
    pub fn base(&self) -> Option<u32> {
        self.base
    }

    /// Sequence number of the next byte to deliver, once known.
    pub fn next_seq(&self) -> Option<u32> {
        self.base.map(|b| b.wrapping_add(self.delivered as u32))
    }

    /// Feed one segment; delivered chunks go to `out`, problems to `issues`.
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        payload: &[u8],
        out: &mut Vec<Chunk>,
        issues: &mut Vec<(u64, String)>,
    ) {
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if syn && self.base.is_none() {
            self.base = Some(data_seq);
        }
        if payload.is_empty() {
            return;
        }
        let base = *self.base.get_or_insert(data_seq);
        let next = base.wrapping_add(self.delivered as u32);
        let d = i64::from(data_seq.wrapping_sub(next) as i32);
        if d <= 0 {
            let skip = d.unsigned_abs();
            if skip >= payload.len() as u64 {
                return; // retransmission of delivered bytes
            }
            self.deliver(&payload[skip as usize..], out);
            self.drain(out);
        } else {
            let d = d as u64;
            if d > self.limit as u64 {
                issues.push((
                    self.delivered,
                    format!("segment {d} bytes ahead of the expected sequence number, ignored"),
                ));
                return;
            }
            let off = self.delivered + d;
            let keep = match self.pending.get(&off) {
                Some(old) => old.len() < payload.len(),
                None => true,
            };
            if keep {
                if let Some(old) = self.pending.insert(off, payload.to_vec()) {
                    self.pending_bytes -= old.len();
                }
                self.pending_bytes += payload.len();
            }
            if self.pending_bytes > self.limit {
                issues.push((
                    self.delivered,
                    format!(
                        "more than {} bytes buffered waiting for a missing segment; skipping the gap",
                        self.limit
                    ),
                ));
                self.skip_gap(out, issues);
            }
        }
    }

    /// End of capture: deliver what is buffered after the gaps, reporting them.
    pub fn finish(&mut self, out: &mut Vec<Chunk>, issues: &mut Vec<(u64, String)>) {
        while !self.pending.is_empty() {
            self.skip_gap(out, issues);
        }
    }

    fn skip_gap(&mut self, out: &mut Vec<Chunk>, issues: &mut Vec<(u64, String)>) {
        if let Some((&first, _)) = self.pending.iter().next() {
            if first > self.delivered {
                issues.push((
                    self.delivered,
                    format!(
                        "{} bytes missing from the capture (segments never seen)",
                        first - self.delivered
                    ),
                ));
                self.delivered = first;
                self.gap = true;
            }
            self.drain(out);
        }
    }

    fn deliver(&mut self, data: &[u8], out: &mut Vec<Chunk>) {
        out.push(Chunk {
            offset: self.delivered,
            gap_before: std::mem::take(&mut self.gap),
            data: data.to_vec(),
        });
        self.delivered += data.len() as u64;
    }

    fn drain(&mut self, out: &mut Vec<Chunk>) {
        while let Some(entry) = self.pending.first_entry() {
            let off = *entry.key();
            if off > self.delivered {
                break;
            }
            let data = entry.remove();
            self.pending_bytes -= data.len();
            let skip = self.delivered - off;
            if skip < data.len() as u64 {
                self.deliver(&data[skip as usize..], out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Reassembler, segs: &[(u32, bool, &[u8])]) -> (Vec<u8>, Vec<Chunk>) {
        let mut out = vec![];
        let mut issues = vec![];
        for (seq, syn, p) in segs {
            r.segment(*seq, *syn, p, &mut out, &mut issues);
        }
        r.finish(&mut out, &mut issues);
        let all = out.iter().flat_map(|c| c.data.clone()).collect();
        (all, out)
    }

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut r = Reassembler::new(1 << 20);
        let (all, _) = run(
            &mut r,
            &[
                (99, true, b""),
                (106, false, b"world"),
                (100, false, b"hello "),
                (100, false, b"hello "),
                (103, false, b"lo wor"),
                (111, false, b"!"),
            ],
        );
        assert_eq!(all, b"hello world!");
    }

    #[test]
    fn sequence_wraparound() {
        let mut r = Reassembler::new(1 << 20);
        let (all, _) = run(&mut r, &[(u32::MAX - 2, false, b"abc"), (0, false, b"def")]);
        assert_eq!(all, b"abcdef");
    }

    #[test]
    fn gap_is_skipped_at_finish_and_flagged() {
        let mut r = Reassembler::new(1 << 20);
        let (all, chunks) = run(&mut r, &[(0, false, b"ab"), (10, false, b"xy")]);
        assert_eq!(all, b"abxy");
        assert!(!chunks[0].gap_before);
        assert!(chunks[1].gap_before);
        assert_eq!(chunks[1].offset, 10);
    }

    #[test]
    fn buffer_bound_forces_resync() {
        let mut r = Reassembler::new(8);
        let mut out = vec![];
        let mut issues = vec![];
        r.segment(0, false, b"a", &mut out, &mut issues);
        r.segment(3, false, b"12345", &mut out, &mut issues);
        assert!(issues.is_empty());
        r.segment(8, false, b"6789", &mut out, &mut issues);
        assert!(!issues.is_empty());
        let all: Vec<u8> = out.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(all, b"a123456789");
        // far-away segment is ignored, not buffered
        r.segment(1 << 30, false, b"zz", &mut out, &mut issues);
        assert_eq!(r.pending_bytes, 0);
    }
}

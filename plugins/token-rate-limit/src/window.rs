//! The limiting algorithm: a sliding-window counter made of `k` sub-windows ("slots").
//!
//! A window of length `T` is cut into `k` slots of `s = T/k`. An admission at time `t` (slot
//! `c = ⌊t/s⌋`) adds its cost to slot `c` and is allowed only if the slots `c-k ..= c` (which cover
//! `[t-T, t]` and at most `s` more) plus the cost stay within the limit `N`. Any interval of length
//! `T` lies inside `k+1` consecutive slots, all of which the last admission inside it counted, so:
//!
//! * **bound**: what is admitted in *any* interval of length `T` is at most `N` (reservations are
//!   charged when admitted; settling corrects a slot by the difference to the real usage, so the
//!   only excess is the usage a request had above its reservation);
//! * **cost**: under constant load a key gets at most `N·k/(k+1)` per `T` (1.6% less at `k = 60`),
//!   and a rejected request learns exactly when enough slots expire (`retry_after_ms`).
//!
//! Unlike a fixed window (Higress ai-token-ratelimit), there is no 2·N burst across a window
//! boundary; unlike a token bucket of capacity `N` there is no `N` burst plus refill within `T`.
//! The same arithmetic runs in Redis (`lua.rs`) and in shared data (`local.rs`).

/// A window length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub seconds: u64,
}

impl Window {
    pub const SECOND: Window = Window { seconds: 1 };
    pub const MINUTE: Window = Window { seconds: 60 };
    pub const HOUR: Window = Window { seconds: 3600 };
    pub const DAY: Window = Window { seconds: 86400 };

    pub fn ms(&self) -> u64 {
        self.seconds * 1000
    }

    /// Slot geometry with `k` slots (slots are at least 1 ms).
    pub fn geometry(&self, k: u32) -> Geometry {
        let slot_ms = (self.ms() / u64::from(k.max(1))).max(1);
        Geometry {
            slot_ms,
            // Rounded up so that k slots always cover the whole window.
            slots: self.ms().div_ceil(slot_ms),
        }
    }
}

/// Slot length and count of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub slot_ms: u64,
    pub slots: u64,
}

impl Geometry {
    pub fn slot_of(&self, t_ms: u64) -> u64 {
        t_ms / self.slot_ms
    }

    /// Oldest slot still counted at slot `cur`.
    fn oldest(&self, cur: u64) -> u64 {
        cur.saturating_sub(self.slots)
    }

    /// How long the counter must be kept after its last write.
    pub fn ttl_ms(&self) -> u64 {
        (self.slots + 2) * self.slot_ms
    }
}

/// The outcome of checking one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub fits: bool,
    /// Counted in the window before this request.
    pub used: u64,
    pub limit: u64,
    /// When enough slots will have expired for the cost to fit (0 if it fits now; the window
    /// length if it can never fit).
    pub retry_after_ms: u64,
    /// When everything counted now will have expired.
    pub reset_ms: u64,
}

impl Check {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

/// Counts per slot, oldest first; slots out of the window are dropped on every write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlidingWindow {
    slots: Vec<(u64, u64)>,
}

impl SlidingWindow {
    fn trim(&mut self, g: &Geometry, now_ms: u64) {
        let oldest = g.oldest(g.slot_of(now_ms));
        self.slots.retain(|&(i, n)| i >= oldest && n > 0);
    }

    /// Whether `cost` fits under `limit` at `now_ms`, without adding it.
    pub fn check(&self, g: &Geometry, now_ms: u64, limit: u64, cost: u64) -> Check {
        let cur = g.slot_of(now_ms);
        let oldest = g.oldest(cur);
        let live = || self.slots.iter().filter(move |&&(i, _)| i >= oldest);
        let used: u64 = live().map(|&(_, n)| n).sum();
        let expiry = |i: u64| ((i + g.slots + 1) * g.slot_ms).saturating_sub(now_ms);
        let reset_ms = live().map(|&(i, _)| expiry(i)).max().unwrap_or(0);
        let fits = used.saturating_add(cost) <= limit;
        let retry_after_ms = if fits {
            0
        } else if cost > limit {
            g.slots * g.slot_ms
        } else {
            let mut excess = used + cost - limit;
            let mut at = 0;
            for &(i, n) in live() {
                at = expiry(i);
                excess = excess.saturating_sub(n);
                if excess == 0 {
                    break;
                }
            }
            at
        };
        Check {
            fits,
            used,
            limit,
            retry_after_ms,
            reset_ms,
        }
    }

    /// Adds `delta` (negative to refund) to the slot of `at_ms`, if that slot is still counted.
    pub fn add(&mut self, g: &Geometry, now_ms: u64, at_ms: u64, delta: i64) {
        self.trim(g, now_ms);
        let slot = g.slot_of(at_ms);
        if slot < g.oldest(g.slot_of(now_ms)) {
            return;
        }
        match self.slots.iter().position(|&(i, _)| i >= slot) {
            Some(p) if self.slots[p].0 == slot => {
                let n = &mut self.slots[p].1;
                *n = n.saturating_add_signed(delta);
            }
            Some(p) if delta > 0 => self.slots.insert(p, (slot, delta as u64)),
            None if delta > 0 => self.slots.push((slot, delta as u64)),
            _ => {}
        }
        self.slots.retain(|&(_, n)| n > 0);
    }

    /// `slot:count,...` for shared data.
    pub fn encode(&self) -> String {
        let parts: Vec<String> = self.slots.iter().map(|(i, n)| format!("{i}:{n}")).collect();
        parts.join(",")
    }

    /// Parses [`encode`](Self::encode)'s format; garbage yields an empty window.
    pub fn decode(s: &[u8]) -> SlidingWindow {
        let text = std::str::from_utf8(s).unwrap_or_default();
        let mut slots: Vec<(u64, u64)> = text
            .split(',')
            .filter_map(|p| {
                let (i, n) = p.split_once(':')?;
                Some((i.parse().ok()?, n.parse().ok()?))
            })
            .collect();
        slots.sort_unstable();
        SlidingWindow { slots }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Geometry = Geometry {
        slot_ms: 1000,
        slots: 60,
    };

    #[test]
    fn admits_up_to_the_limit_then_rejects_with_exact_retry_after() {
        let mut w = SlidingWindow::default();
        let t0 = 1_000_000;
        assert!(w.check(&G, t0, 100, 60).fits);
        w.add(&G, t0, t0, 60);
        w.add(&G, t0 + 10_500, t0 + 10_500, 30);
        let c = w.check(&G, t0 + 20_000, 100, 20);
        assert!(!c.fits);
        assert_eq!(c.used, 90);
        assert_eq!(c.remaining(), 10);
        // The first slot (t0's, index 1000) stops counting at slot 1061 = t0 + 61 s.
        assert_eq!(c.retry_after_ms, 61_000 - 20_000);
        assert_eq!(c.reset_ms, 1010 * 1000 + 61_000 - (t0 + 20_000));
        assert!(w.check(&G, t0 + 61_000, 100, 20).fits);
        assert!(!w.check(&G, t0 + 60_999, 100, 20).fits);
    }

    #[test]
    fn cost_above_the_limit_never_fits() {
        let w = SlidingWindow::default();
        let c = w.check(&G, 5, 10, 11);
        assert!(!c.fits);
        assert_eq!(c.retry_after_ms, 60_000);
    }

    #[test]
    fn refund_goes_to_the_admission_slot() {
        let mut w = SlidingWindow::default();
        w.add(&G, 0, 0, 500);
        w.add(&G, 30_000, 0, -380);
        assert_eq!(w.check(&G, 30_000, 1000, 0).used, 120);
        // A refund after the slot expired changes nothing and cannot go negative.
        w.add(&G, 200_000, 0, -1000);
        assert_eq!(w.check(&G, 200_000, 1000, 0).used, 0);
        w.add(&G, 200_000, 200_000, 5);
        w.add(&G, 200_000, 200_000, -50);
        assert_eq!(w.check(&G, 200_000, 1000, 0).used, 0);
    }

    /// The documented bound, by brute force: random costs at random times, every admitted request
    /// recorded, then every interval of length T checked.
    #[test]
    fn no_interval_of_one_window_admits_more_than_the_limit() {
        let mut w = SlidingWindow::default();
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let mut t = 0;
        for _ in 0..20_000 {
            t += rnd(700);
            let cost = 1 + rnd(120);
            if w.check(&G, t, 1000, cost).fits {
                w.add(&G, t, t, cost as i64);
                admitted.push((t, cost));
            }
        }
        let mut total_admitted = 0;
        for (i, &(start, _)) in admitted.iter().enumerate() {
            let in_window: u64 = admitted[i..]
                .iter()
                .take_while(|&&(t, _)| t < start + 60_000)
                .map(|&(_, c)| c)
                .sum();
            assert!(in_window <= 1000, "{in_window} admitted in [{start}, +60s)");
            total_admitted += admitted[i].1;
        }
        // And it does not starve: at least k/(k+1) of the limit per window on average.
        let windows = t as f64 / 60_000.0;
        assert!(
            total_admitted as f64 / windows > 1000.0 * 0.9,
            "{total_admitted} in {windows} windows"
        );
    }

    #[test]
    fn encode_round_trips_and_garbage_is_empty() {
        let mut w = SlidingWindow::default();
        w.add(&G, 5000, 5000, 7);
        w.add(&G, 9000, 9000, 3);
        assert_eq!(SlidingWindow::decode(w.encode().as_bytes()), w);
        assert_eq!(SlidingWindow::decode(b"\xff:zz"), SlidingWindow::default());
    }

    #[test]
    fn geometry_of_each_window() {
        assert_eq!(
            Window::SECOND.geometry(60),
            Geometry {
                slot_ms: 16,
                slots: 63
            }
        );
        assert_eq!(Window::DAY.geometry(60).slot_ms, 1_440_000);
        assert_eq!(
            Window::MINUTE.geometry(1),
            Geometry {
                slot_ms: 60_000,
                slots: 1
            }
        );
    }
}

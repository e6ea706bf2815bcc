//! The installed fault rules, the seeded generator, the latency and the log of fired faults.

use std::time::Duration;

use super::{Fault, FaultRule};
use crate::rng::SplitMix64;

/// A rule with its counters.
#[derive(Debug)]
struct Installed {
    rule: FaultRule,
    /// Matching requests seen so far (for `after`).
    seen: u64,
    /// Requests the rule fired on (for `times`).
    fired: u64,
}

impl Installed {
    fn spent(&self) -> bool {
        self.rule.times.is_some_and(|n| self.fired >= u64::from(n))
    }

    fn matches(&self, path: &str) -> bool {
        self.rule.endpoint.as_deref().is_none_or(|e| e == path)
    }
}

/// Fault configuration and history, behind `Shared::faults`.
#[derive(Debug)]
pub(crate) struct FaultState {
    rules: Vec<Installed>,
    rng: SplitMix64,
    /// Added to every `/api/` response.
    pub(crate) latency: Duration,
    /// `(path, fault name)` of every injected fault, oldest first.
    pub(crate) fired: Vec<(String, String)>,
}

impl FaultState {
    /// No rules, no latency; probabilities drawn from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        FaultState {
            rules: Vec::new(),
            rng: SplitMix64::new(seed),
            latency: Duration::ZERO,
            fired: Vec::new(),
        }
    }

    /// Appends a rule.
    pub(crate) fn push(&mut self, rule: FaultRule) {
        self.rules.push(Installed {
            rule,
            seen: 0,
            fired: 0,
        });
    }

    /// Restarts the generator.
    pub(crate) fn reseed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    /// Drops every rule and the latency.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
        self.latency = Duration::ZERO;
    }

    /// Rules not yet spent.
    pub(crate) fn active_rules(&self) -> usize {
        self.rules.iter().filter(|r| !r.spent()).count()
    }

    /// The fault for one request to `path`, if a rule fires; records it.
    ///
    /// Every unspent rule matching `path` counts the request (for `after`); the first one past
    /// its `after` whose probability draw succeeds fires. The generator is drawn only for rules
    /// with a probability that are considered before one fired, so the sequence is a function
    /// of the seed, the rules and the request order.
    pub(crate) fn decide(&mut self, path: &str) -> Option<Fault> {
        let mut chosen: Option<Fault> = None;
        for r in &mut self.rules {
            if r.spent() || !r.matches(path) {
                continue;
            }
            r.seen += 1;
            if chosen.is_some() || r.seen <= u64::from(r.rule.after) {
                continue;
            }
            if let Some(p) = r.rule.probability
                && self.rng.next_f64() >= p
            {
                continue;
            }
            r.fired += 1;
            chosen = Some(r.rule.fault.clone());
        }
        if let Some(fault) = &chosen {
            self.fired.push((path.to_string(), fault.name()));
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LS: &str = "/api/list_snapshot";
    const DD: &str = "/api/document_deltas";

    fn names(state: &mut FaultState, paths: &[&str]) -> Vec<Option<String>> {
        paths
            .iter()
            .map(|p| state.decide(p).map(|f| f.name()))
            .collect()
    }

    #[test]
    fn after_times_and_endpoint() {
        let mut s = FaultState::new(1);
        s.push(FaultRule::on(LS, Fault::BadGateway).after(1).times(2));
        let got = names(&mut s, &[LS, DD, LS, LS, LS]);
        let bg = Some("bad_gateway".to_string());
        assert_eq!(got, vec![None, None, bg.clone(), bg, None]);
        assert_eq!(s.active_rules(), 0);
    }

    #[test]
    fn first_rule_wins_and_later_rules_still_count() {
        let mut s = FaultState::new(1);
        s.push(FaultRule::next(1, Fault::RequestTimeout));
        s.push(FaultRule::always(Fault::NonJsonBody).after(2));
        let got = names(&mut s, &[LS, LS, LS]);
        assert_eq!(
            got,
            vec![
                Some("request_timeout".into()),
                None,
                Some("non_json_body".into())
            ]
        );
    }

    #[test]
    fn probability_is_seeded() {
        let run = |seed| {
            let mut s = FaultState::new(seed);
            s.push(FaultRule::random(0.5, Fault::BadGateway));
            names(&mut s, &[LS; 64])
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let hits = run(3).iter().filter(|n| n.is_some()).count();
        assert!((16..=48).contains(&hits), "{hits}");
    }
}

//! The stand-in's state as a plain, deterministic state machine: the fault rules with their
//! remaining budgets, the call counters and the call sequence number. It knows nothing of the
//! Workers runtime (no clock, no randomness, no I/O): the stand-in Worker (and the in-memory twin of the simulation) decodes a
//! request, asks [`Standin::on_optimize`] which fault (if any) the call suffers, and carries
//! that decision out. This is what the native tests below exercise.

use std::time::Duration;

use crate::elite::{EliteRequest, ELITE_CONTRACT_VERSION, PLATFORM_CONTEXT_VERSION};
use crate::standin::{within_rate, AlertFaults, Fault, FaultRule, FaultRules, ReceivedAlerts, SendFaults, StandinStats};

/// How long a [`Fault::Hang`] without `ms` sleeps: longer than any sane client timeout.
pub const DEFAULT_HANG_MS: u64 = 120_000;
/// Upper bound of any simulated sleep. `worker::Delay` hands the duration to `setTimeout` as an
/// `i32` of milliseconds, so a larger value would wrap to a negative (immediate) timeout.
const MAX_SLEEP_MS: u64 = i32::MAX as u64;

/// Everything the stand-in remembers between calls (one per wasm instance).
#[derive(Debug)]
pub struct Standin {
    /// The active rules, in priority order. A rule's `times` is its *remaining* budget: it is
    /// decremented in place each time the rule applies, so `GET /__standin/faults` shows it.
    rules: Vec<FaultRule>,
    /// Counters and instance id, exactly as `GET /__standin/stats` reports them.
    stats: StandinStats,
    /// Sequence number of the next optimize call, fed to `within_rate` so a `rate` rule picks
    /// the same calls on every run. Zeroed with the counters, so a test that resets the stats
    /// before its run gets a reproducible pattern regardless of earlier traffic.
    seq: u64,
    /// The dispatcher's send failures armed for its next fan-out (the local fault switch).
    send_faults: SendFaults,
    /// The alert webhook bodies received, oldest first (the local alert receiver).
    alerts: ReceivedAlerts,
}

impl Standin {
    /// A fresh stand-in. `instance` is the random id of this wasm instance; the caller draws it
    /// because this module never touches a source of randomness.
    pub fn new(instance: String) -> Self {
        Self {
            rules: Vec::new(),
            stats: StandinStats { instance, ..StandinStats::default() },
            seq: 0,
            send_faults: SendFaults::default(),
            alerts: ReceivedAlerts::default(),
        }
    }

    /// Arms `faults` for the next fan-out (`SendFaults::default()` disarms).
    pub fn arm_send_faults(&mut self, faults: SendFaults) {
        self.send_faults = faults;
    }

    pub fn send_faults(&self) -> SendFaults {
        self.send_faults
    }

    /// Keeps one alert webhook body, or refuses it with the status to answer: 503 while
    /// refusals are armed ([`Standin::fail_alerts`]), 400 for a body that is not JSON (the
    /// dispatcher must send JSON), so a test sees either as a failed send, not as a message.
    pub fn receive_alert(&mut self, body: &[u8]) -> Result<(), (u16, String)> {
        if self.alerts.fail_next > 0 {
            self.alerts.fail_next -= 1;
            self.alerts.refused += 1;
            return Err((503, "simulated fault: the local alert receiver refuses this body".to_owned()));
        }
        let value = serde_json::from_slice(body).map_err(|e| (400, format!("an alert body must be JSON: {e}")))?;
        self.alerts.received.push(value);
        Ok(())
    }

    /// Refuses the next `fail_next` alert bodies with a 503.
    pub fn fail_alerts(&mut self, faults: AlertFaults) {
        self.alerts.fail_next = faults.fail_next;
    }

    pub fn alerts(&self) -> ReceivedAlerts {
        self.alerts.clone()
    }

    pub fn clear_alerts(&mut self) {
        self.alerts = ReceivedAlerts::default();
    }

    /// Hands the armed send failures to one fan-out, and disarms them.
    pub fn take_send_faults(&mut self) -> SendFaults {
        std::mem::take(&mut self.send_faults)
    }

    /// Records one decoded optimize call and decides which fault it suffers, consuming one unit
    /// of the chosen rule's budget.
    pub fn on_optimize(&mut self, request: &EliteRequest) -> Option<Fault> {
        let seq = self.seq;
        self.seq += 1;
        self.stats.total_calls += 1;
        *self.stats.calls.entry(request.customer_id.clone()).or_default().entry(request.role).or_default() += 1;
        // The stand-in reads the platform context it is sent (as a real elite worker would, by
        // its version) and keeps what it read, so tests can see what arrived.
        if let Some(context) = request.platform_context.as_ref().filter(|c| c.v == PLATFORM_CONTEXT_VERSION) {
            *self.stats.platform_context_calls.entry(context.month.clone()).or_default() += 1;
            self.stats.last_platform_context = Some(context.clone());
        }
        let fault = pick_fault(&mut self.rules, request, seq);
        if fault.is_some() {
            self.stats.faults_applied += 1;
        }
        fault
    }

    /// Replaces every rule. The rules must have passed [`validate_rules`].
    pub fn set_rules(&mut self, rules: FaultRules) {
        self.rules = rules.rules;
    }

    pub fn clear_rules(&mut self) {
        self.rules.clear();
    }

    /// The current rules, with remaining budgets.
    pub fn rules(&self) -> FaultRules {
        FaultRules { rules: self.rules.clone() }
    }

    pub fn stats(&self) -> StandinStats {
        self.stats.clone()
    }

    /// Zeroes the counters and the sequence number but keeps the instance id: the id tells a
    /// reader whether the *instance* restarted, which a deliberate reset does not do.
    pub fn reset_stats(&mut self) {
        let instance = std::mem::take(&mut self.stats.instance);
        self.stats = StandinStats { instance, ..StandinStats::default() };
        self.seq = 0;
    }
}

/// Picks the first rule that matches the call and has budget left, and spends one unit of its
/// budget. A rule whose `rate` excludes this call does not apply and costs nothing, so the
/// next matching rule gets its chance (rules compose: "30% 503, else 10% garbage").
pub fn pick_fault(rules: &mut [FaultRule], request: &EliteRequest, seq: u64) -> Option<Fault> {
    let rule = rules.iter_mut().find(|rule| {
        rule.customer_id.as_deref().is_none_or(|c| c == request.customer_id)
            && rule.role.is_none_or(|r| r == request.role)
            && rule.times != Some(0)
            && rule.rate.is_none_or(|rate| within_rate(rate, seq))
    })?;
    if let Some(left) = rule.times.as_mut() {
        *left -= 1;
    }
    Some(rule.fault.clone())
}

/// Rejects rules the stand-in could not carry out, so a typo in a test fails at `PUT` time with
/// a clear 400 instead of a confusing runtime error during the run.
pub fn validate_rules(rules: &FaultRules) -> Result<(), String> {
    for (i, rule) in rules.rules.iter().enumerate() {
        if let Fault::Status { code } = rule.fault {
            // The JS `Response` constructor throws a RangeError outside 200-599.
            if !(200..=599).contains(&code) {
                return Err(format!("rule {i}: status code {code} is outside 200-599"));
            }
        }
        if let Fault::Score { score } = rule.fault {
            if score > 100 {
                return Err(format!("rule {i}: score {score} is outside 0-100"));
            }
        }
        if let Some(rate) = rule.rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("rule {i}: rate {rate} is outside 0.0-1.0"));
            }
        }
    }
    Ok(())
}

/// Decodes an optimize body and checks its contract version, with an error message meant for
/// the caller's logs.
pub fn decode_request(body: &[u8]) -> Result<EliteRequest, String> {
    let request: EliteRequest = serde_json::from_slice(body).map_err(|e| format!("body is not an EliteRequest: {e}"))?;
    if request.v != ELITE_CONTRACT_VERSION {
        return Err(format!("contract version {} is not supported; the local elite stand-in speaks {ELITE_CONTRACT_VERSION}", request.v));
    }
    Ok(request)
}

/// How long a fault makes the call sleep before it answers normally; `None` for faults that
/// answer at once.
pub fn sleep_of(fault: &Fault) -> Option<Duration> {
    let ms = match *fault {
        Fault::Hang { ms } => ms.unwrap_or(DEFAULT_HANG_MS),
        Fault::Latency { ms } => ms,
        Fault::Status { .. } | Fault::Garbage | Fault::Score { .. } => return None,
    };
    Some(Duration::from_millis(ms.min(MAX_SLEEP_MS)))
}

#[cfg(test)]
mod tests {
    use crate::elite::EliteRole;

    use super::*;

    fn req(customer: &str, role: EliteRole) -> EliteRequest {
        EliteRequest {
            v: 1,
            role,
            job_id: "job".into(),
            customer_id: customer.into(),
            site_url: "https://site.example".into(),
            scheduled_at: "2026-01-01T00:00:00Z".into(),
            platform_context: None,
        }
    }

    fn rule(customer: Option<&str>, role: Option<EliteRole>, fault: Fault, times: Option<u32>) -> FaultRule {
        FaultRule { customer_id: customer.map(Into::into), role, fault, rate: None, times }
    }

    const S503: Fault = Fault::Status { code: 503 };

    #[test]
    fn the_alert_receiver_keeps_json_bodies_in_order_and_refuses_others() {
        let mut s = Standin::new("i".into());
        s.receive_alert(br#"{"text":"one"}"#).unwrap();
        assert_eq!(s.receive_alert(b"not json").map_err(|e| e.0), Err(400));
        s.fail_alerts(AlertFaults { fail_next: 1 });
        assert_eq!(s.receive_alert(br#"{"text":"refused"}"#).map_err(|e| e.0), Err(503));
        s.receive_alert(br#"{"text":"two"}"#).unwrap();
        assert_eq!((s.alerts().refused, s.alerts().fail_next), (1, 0));
        let texts: Vec<String> = s.alerts().received.iter().map(|v| v["text"].as_str().unwrap_or_default().to_owned()).collect();
        assert_eq!(texts, ["one", "two"]);
        s.clear_alerts();
        assert!(s.alerts().received.is_empty());
    }

    #[test]
    fn selectors_must_all_match() {
        let mut rules = vec![rule(Some("c1"), Some(EliteRole::Designer), S503, None)];
        assert_eq!(pick_fault(&mut rules, &req("c1", EliteRole::Designer), 0), Some(S503));
        assert_eq!(pick_fault(&mut rules, &req("c1", EliteRole::Brand), 1), None);
        assert_eq!(pick_fault(&mut rules, &req("c2", EliteRole::Designer), 2), None);
        let mut any = vec![rule(None, None, Fault::Garbage, None)];
        assert_eq!(pick_fault(&mut any, &req("zz", EliteRole::Developer), 3), Some(Fault::Garbage));
    }

    #[test]
    fn budget_is_spent_then_the_next_rule_applies() {
        let mut rules = vec![rule(None, None, S503, Some(2)), rule(None, None, Fault::Garbage, Some(1))];
        let r = req("c", EliteRole::Brand);
        let got: Vec<_> = (0..4).map(|s| pick_fault(&mut rules, &r, s)).collect();
        assert_eq!(got, vec![Some(S503), Some(S503), Some(Fault::Garbage), None]);
        assert_eq!(rules[0].times, Some(0));
        assert_eq!(rules[1].times, Some(0));
    }

    #[test]
    fn a_rate_miss_costs_no_budget_and_falls_through() {
        let mut rules = vec![FaultRule { rate: Some(0.0), ..rule(None, None, S503, Some(1)) }, rule(None, None, Fault::Garbage, None)];
        assert_eq!(pick_fault(&mut rules, &req("c", EliteRole::Brand), 7), Some(Fault::Garbage));
        assert_eq!(rules[0].times, Some(1));
    }

    #[test]
    fn a_rate_picks_the_calls_within_rate_picks() {
        let mut rules = vec![FaultRule { rate: Some(0.5), ..rule(None, None, S503, None) }];
        let r = req("c", EliteRole::Brand);
        for seq in 0..200 {
            assert_eq!(pick_fault(&mut rules, &r, seq).is_some(), within_rate(0.5, seq), "seq {seq}");
        }
    }

    #[test]
    fn calls_and_faults_are_counted_and_reset_keeps_the_instance() {
        let mut s = Standin::new("abc".into());
        s.set_rules(FaultRules { rules: vec![rule(Some("c1"), None, S503, Some(1))] });
        assert_eq!(s.on_optimize(&req("c1", EliteRole::Brand)), Some(S503));
        assert_eq!(s.on_optimize(&req("c1", EliteRole::Brand)), None);
        assert_eq!(s.on_optimize(&req("c2", EliteRole::Developer)), None);
        let stats = s.stats();
        assert_eq!((stats.total_calls, stats.faults_applied), (3, 1));
        assert_eq!(stats.calls["c1"][&EliteRole::Brand], 2);
        assert_eq!(stats.calls["c2"][&EliteRole::Developer], 1);
        assert_eq!(s.rules().rules[0].times, Some(0));

        s.reset_stats();
        assert_eq!(s.stats(), StandinStats { instance: "abc".into(), ..StandinStats::default() });
        assert_eq!(s.seq, 0);
        s.clear_rules();
        assert!(s.rules().rules.is_empty());
    }

    #[test]
    fn stats_serialize_with_role_keys() {
        let mut s = Standin::new("i".into());
        s.on_optimize(&req("c1", EliteRole::Designer));
        let json = serde_json::to_string(&s.stats()).unwrap();
        assert_eq!(json, r#"{"instance":"i","calls":{"c1":{"designer":1}},"total_calls":1,"faults_applied":0}"#);
    }

    #[test]
    fn insight_context_is_read_and_recorded_by_its_version() {
        let mut s = Standin::new("i".into());
        let context = |v| crate::elite::PlatformContext { v, month: "2026-11".into(), insights: Vec::new() };
        s.on_optimize(&EliteRequest { platform_context: Some(context(PLATFORM_CONTEXT_VERSION)), ..req("c1", EliteRole::Brand) });
        s.on_optimize(&EliteRequest { platform_context: Some(context(PLATFORM_CONTEXT_VERSION + 1)), ..req("c1", EliteRole::Brand) });
        s.on_optimize(&req("c1", EliteRole::Brand));
        let stats = s.stats();
        assert_eq!(
            stats.platform_context_calls.into_iter().collect::<Vec<_>>(),
            [("2026-11".to_owned(), 1)],
            "a newer version is not read"
        );
        assert_eq!(stats.last_platform_context, Some(context(PLATFORM_CONTEXT_VERSION)));
    }

    #[test]
    fn unrunnable_rules_are_rejected() {
        let bad = |fault, rate| FaultRules { rules: vec![FaultRule { rate, ..rule(None, None, fault, None) }] };
        assert!(validate_rules(&bad(S503, Some(0.3))).is_ok());
        assert!(validate_rules(&bad(Fault::Status { code: 99 }, None)).is_err());
        assert!(validate_rules(&bad(Fault::Status { code: 600 }, None)).is_err());
        assert!(validate_rules(&bad(Fault::Garbage, Some(1.5))).is_err());
        assert!(validate_rules(&bad(Fault::Score { score: 101 }, None)).is_err());
        assert!(validate_rules(&bad(Fault::Score { score: 100 }, None)).is_ok());
    }

    #[test]
    fn requests_are_decoded_and_versions_checked() {
        let good = serde_json::to_vec(&req("c", EliteRole::Brand)).unwrap();
        assert_eq!(decode_request(&good), Ok(req("c", EliteRole::Brand)));
        let v2 = serde_json::to_vec(&EliteRequest { v: 2, ..req("c", EliteRole::Brand) }).unwrap();
        assert!(decode_request(&v2).unwrap_err().contains("version 2"));
        assert!(decode_request(b"{").unwrap_err().starts_with("body is not an EliteRequest"));
        assert!(decode_request(br#"{"v":1,"role":"ceo"}"#).is_err());
    }

    #[test]
    fn sleeps_follow_the_fault() {
        assert_eq!(sleep_of(&Fault::Hang { ms: None }), Some(Duration::from_millis(DEFAULT_HANG_MS)));
        assert_eq!(sleep_of(&Fault::Hang { ms: Some(5) }), Some(Duration::from_millis(5)));
        assert_eq!(sleep_of(&Fault::Latency { ms: u64::MAX }), Some(Duration::from_millis(MAX_SLEEP_MS)));
        assert_eq!(sleep_of(&S503), None);
        assert_eq!(sleep_of(&Fault::Garbage), None);
    }
}

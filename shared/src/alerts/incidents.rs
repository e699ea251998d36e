//! Incidents: one per condition key while the condition holds. [`decide`] compares the
//! conditions of a tick with the open incidents and says which open and which resolve; the
//! store carries both out in one transaction with their messages, refusing a second open
//! incident of a key (so two ticks deciding at once open it once).

use serde::{Deserialize, Serialize};

use super::{Condition, Severity, Source};

/// An incident as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// `{key}.{opened_ms}`: unique, and readable in a message.
    pub id: String,
    pub key: String,
    pub severity: Severity,
    /// The condition's summary when it opened.
    pub summary: String,
    pub opened_ms: i64,
    pub resolved_ms: Option<i64>,
}

impl Incident {
    pub fn id_of(key: &str, opened_ms: i64) -> String {
        format!("{key}.{opened_ms}")
    }

    pub fn is_open(&self) -> bool {
        self.resolved_ms.is_none()
    }
}

/// What one tick changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    pub open: Vec<Incident>,
    /// Open incidents whose condition no longer holds, with their resolution time set.
    pub resolve: Vec<Incident>,
}

impl Decisions {
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.resolve.is_empty()
    }
}

/// Opens an incident for every condition whose key has none open, and resolves every open
/// incident whose source was `observed` and whose key no condition holds. An incident whose
/// source was not observed (unreadable, no data) or is unknown to this build stays as it is.
pub fn decide(open: &[Incident], conditions: &[Condition], observed: &[Source], now_ms: i64) -> Decisions {
    let mut decisions = Decisions::default();
    for condition in conditions {
        let already =
            open.iter().any(|i| i.is_open() && i.key == condition.key) || decisions.open.iter().any(|i: &Incident| i.key == condition.key);
        if !already {
            decisions.open.push(Incident {
                id: Incident::id_of(&condition.key, now_ms),
                key: condition.key.clone(),
                severity: condition.severity,
                summary: condition.summary.clone(),
                opened_ms: now_ms,
                resolved_ms: None,
            });
        }
    }
    for incident in open.iter().filter(|i| i.is_open()) {
        let observed = Source::of_key(&incident.key).is_some_and(|s| observed.contains(&s));
        if observed && !conditions.iter().any(|c| c.key == incident.key) {
            decisions.resolve.push(Incident { resolved_ms: Some(now_ms), ..incident.clone() });
        }
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(key: &str) -> Condition {
        Condition { key: key.into(), severity: Severity::Critical, summary: format!("{key} is wrong") }
    }

    fn opened(key: &str, at: i64) -> Incident {
        Incident {
            id: Incident::id_of(key, at),
            key: key.into(),
            severity: Severity::Critical,
            summary: String::new(),
            opened_ms: at,
            resolved_ms: None,
        }
    }

    fn keys(incidents: &[Incident]) -> Vec<&str> {
        incidents.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn a_new_condition_opens_once_and_a_held_one_does_not_reopen() {
        let d = decide(&[], &[condition("health"), condition("breaker:brand")], &[Source::Health, Source::Breakers], 10);
        assert_eq!(keys(&d.open), ["health", "breaker:brand"]);
        assert_eq!(d.open[0].id, "health.10");
        assert!(d.resolve.is_empty());
        // The next tick: both still hold, both are open: nothing changes (dedup).
        let d = decide(
            &[opened("health", 10), opened("breaker:brand", 10)],
            &[condition("health"), condition("breaker:brand")],
            &[Source::Health, Source::Breakers],
            20,
        );
        assert!(d.is_empty(), "{d:?}");
        // One key twice in one tick opens one incident.
        assert_eq!(decide(&[], &[condition("sweep"), condition("sweep")], &[Source::Sweeps], 5).open.len(), 1);
    }

    #[test]
    fn a_cleared_condition_resolves_only_where_its_source_was_observed() {
        let open = [opened("health", 10), opened("breaker:brand", 10), opened("sweep", 10), opened("someday:new-kind", 10)];
        // Health observed and fine; breakers not observed (no data: a 404); sweeps observed, still lagging.
        let d = decide(&open, &[condition("sweep")], &[Source::Health, Source::Sweeps], 30);
        assert_eq!(keys(&d.resolve), ["health"]);
        assert_eq!(d.resolve[0].resolved_ms, Some(30));
        assert_eq!(d.resolve[0].id, "health.10", "the resolution names the incident it closes");
        assert!(d.open.is_empty());
        // A resolved incident does not block a new one of its key.
        let resolved = Incident { resolved_ms: Some(30), ..opened("health", 10) };
        let d = decide(&[resolved], &[condition("health")], &[Source::Health], 40);
        assert_eq!(d.open.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["health.40"]);
    }
}

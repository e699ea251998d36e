//! `code24-ops breakers`: the elite circuit breakers (`GET /api/breakers`): each role's state,
//! since when and why, and the recent transitions, newest first.

use code24_shared::breaker::BreakersView;

use super::Ctx;
use crate::client::decode;
use crate::error::CliError;
use crate::output::{emit, time, Table};

pub(crate) fn run(ctx: &Ctx) -> Result<(), CliError> {
    let body = ctx.client()?.get("/api/breakers")?;
    if ctx.json {
        return ctx.print_json(&body);
    }
    let view: BreakersView = decode(&body, "the breakers")?;
    emit(&render(&view));
    Ok(())
}

pub(crate) fn render(view: &BreakersView) -> String {
    let mut roles = Table::new(&["ROLE", "STATE", "SINCE", "COOL-DOWN", "REASON"]);
    for b in &view.breakers {
        roles.row(vec![
            b.role.as_str().into(),
            b.state.as_str().into(),
            time(b.since_ms),
            format!("{} s", b.cool_down_ms / 1_000),
            b.reason.clone(),
        ]);
    }
    let mut out = roles.render();
    if view.transitions.is_empty() {
        out.push_str("\nNo transitions yet.\n");
        return out;
    }
    let mut transitions = Table::new(&["AT", "ROLE", "FROM", "TO", "CALLS", "FAILURES", "REASON"]);
    for t in &view.transitions {
        transitions.row(vec![
            time(t.at_ms),
            t.role.as_str().into(),
            t.from.as_str().into(),
            t.to.as_str().into(),
            t.calls.to_string(),
            t.failures.to_string(),
            t.reason.clone(),
        ]);
    }
    out.push('\n');
    out.push_str(&transitions.render());
    out
}

#[cfg(test)]
mod tests {
    use code24_shared::breaker::{BreakerPolicy, BreakerReport, Breakers, RoleCalls};
    use code24_shared::elite::EliteRole;

    use super::*;

    #[test]
    fn the_breakers_render_as_two_tables() {
        let mut book = Breakers::new(BreakerPolicy::DEFAULT, 0);
        assert!(render(&book.view()).contains("No transitions yet."));
        let calls = EliteRole::ALL.into_iter().map(|r| (r, RoleCalls { calls: 10, failures: u64::from(r == EliteRole::Brand) * 10 }));
        book.report(&BreakerReport { calls: calls.collect(), unused: 0, now_ms: 1_000 });
        let out = render(&book.view());
        assert!(out.contains("brand") && out.contains("open") && out.contains("10 of 10 calls failed"), "{out}");
        assert!(out.contains("FAILURES") && out.contains("30 s"), "{out}");
    }
}

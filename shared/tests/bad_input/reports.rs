//! Bad report-queue bodies (`shared/tests/corpus/reports/`) through the report jobs' decoder and
//! through the reports consumer's whole batch over the in-memory twins: each bad body is
//! dead-lettered alone with the decoder's reason (or retried, for a newer version) and touches
//! nothing else — no ledger request, section write, report object, finalize send or probe.

use code24_shared::error::ErrorClass;
use code24_shared::pipeline::consumer::Action;
use code24_shared::reports::jobs::ReportJob;
use code24_shared::testkit::world::World;

use crate::corpus::{entries, text};

const NOW_MS: i64 = 1_796_137_201_000;

/// The shared world's check of a refused body.
trait Untouched {
    fn assert_untouched(&self, what: &str);
}

impl Untouched for World {
    fn assert_untouched(&self, what: &str) {
        assert_eq!(self.ledger.requests.get(), 0, "{what}: no ledger request");
        assert_eq!(self.store.section_writes.get(), 0, "{what}: no section written");
        assert!(self.results.objects.borrow().is_empty(), "{what}: no report object");
        assert!(self.queue.sent.borrow().is_empty(), "{what}: no finalize job sent");
        assert!(self.probes.objects.borrow().is_empty() && self.probes.site_calls.get() == 0, "{what}: nothing probed");
        assert!(self.metrics.finished.borrow().is_empty(), "{what}: no metric");
    }
}

#[test]
fn bad_report_bodies_are_dead_lettered_alone_and_change_nothing_else() {
    let corpus = entries("reports");
    for (name, bytes, cols) in &corpus {
        let body = text(bytes).unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
        let decoded = ReportJob::decode(&body);
        if cols[0] == "ok" {
            let job = decoded.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(ReportJob::decode(&job.encode()).map(|j| j.job_id), Ok(job.job_id.clone()), "{name} round trips");
            continue;
        }
        let reason = decoded.expect_err(name);
        assert!(reason.message.contains(&cols[1]), "{name}: {:?} lacks {:?}", reason.message, cols[1]);
        let world = World::at(NOW_MS);
        let actions = world.deliver_reports(&[&body]);
        world.assert_untouched(name);
        let letters = world.dead.letters.borrow();
        if cols[0] == "transient" {
            assert_eq!(reason.class, ErrorClass::Transient, "{name}");
            assert!(matches!(actions[..], [Action::Retry { .. }]), "{name}: {actions:?}");
            assert!(letters.is_empty(), "{name}");
        } else {
            assert_eq!(reason.class, ErrorClass::Permanent, "{name}");
            assert_eq!(actions, vec![Action::Ack], "{name}");
            assert_eq!(letters.len(), 1, "{name}");
            assert_eq!((&letters[0].body, &letters[0].error, letters[0].attempts), (&body, &reason, 0), "{name}");
        }
    }
    eprintln!("report corpus: {} bodies replayed through the decoder and the reports consumer", corpus.len());
}

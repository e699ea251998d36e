//! End to end on local workerd: a report larger than one R2 part goes through a multipart upload
//! on the real local R2 (`ports::PartUploads`, `runtime/src/results.rs`) and reads back whole.
//!
//! The tier loads `tests/fixtures/multipart_sections.sql` before the stack starts: 20,000
//! customers' sections of the monthly-analytics run of May 2035 (no API would load that many in
//! reasonable time, and the local R2 refuses parts under 5 MiB as Cloudflare's does, so the
//! object itself must be larger than a part). The first run of this test found the first part
//! one head longer than the others, which R2 refuses (`reports::stream`). This file injects that run's finalize job onto
//! the reports queue; the reports consumer folds the sections page by page into the monthly
//! report and writes it in parts. The listing's etag says how many parts the object was
//! completed from (`<md5 of the parts' md5s>-<parts>`), and the object read back is the whole
//! report, every customer in order.

use std::time::Duration;

use code24_shared::limits::R2_PART_MIN_BYTES;
use code24_shared::reports::analytics::CustomerMonthly;
use code24_shared::reports::jobs::{monthly_run_id, ReportJob, ReportWork};
use code24_shared::reports::period::Month;
use code24_shared::schedule::MONTHLY_ANALYTICS;
use code24_tests::{wait_until, Stack};
use serde_json::Value;
use ureq::http::Method;

const FIXTURE: &str = include_str!("../fixtures/multipart_sections.sql");
const MONTH: Month = Month { year: 2035, month: 5 };
/// The fixture's customers: `mp-00000` ..= `mp-19999`.
const CUSTOMERS: usize = 20_000;
const SETTLE: Duration = Duration::from_secs(180);

/// The section template of the fixture, with a customer id filled in.
fn fixture_section(customer: &str) -> String {
    let start = FIXTURE.find("replace('").expect("the fixture's template") + "replace('".len();
    let end = start + FIXTURE[start..].find("', '__ID__'").expect("the template's end");
    FIXTURE[start..end].replace("__ID__", customer)
}

#[test]
fn the_multipart_fixture_is_sections_the_finalize_reads() {
    // The fixture is SQL, so nothing compiles it against the section's type but this.
    let section: CustomerMonthly = serde_json::from_str(&fixture_section("mp-00042")).expect("a CustomerMonthly");
    assert_eq!(section.customer_id, "mp-00042");
    assert!(FIXTURE.contains(&format!("'{}'", monthly_run_id("local", MONTHLY_ANALYTICS, MONTH))), "the fixture's run is May 2035's");
    assert!(FIXTURE.contains(&format!("WHERE i < {}", CUSTOMERS - 1)), "the fixture has {CUSTOMERS} customers");
    // About 520 bytes a customer in pretty JSON, a quarter more indented in the report: over
    // two parts, which a streamed report holds before it sends any (smaller, it is one put).
    let pretty = serde_json::to_vec_pretty(&section).unwrap().len();
    assert!((pretty * CUSTOMERS) as u64 * 5 / 4 > 2 * R2_PART_MIN_BYTES, "{pretty} bytes a section");
}

#[test]
#[ignore = "end to end: run by `cargo xtask test`"]
fn multipart_a_report_larger_than_a_part_is_uploaded_in_parts_to_local_r2_and_reads_back_whole() {
    let stack = Stack::from_env();
    let key = MONTH.analytics_key();
    let prefix = format!("/api/results?prefix={key}");
    assert_eq!(stack.get_json(&prefix)["objects"], serde_json::json!([]), "May 2035's report exists before its finalize ran");

    let run_id = monthly_run_id("local", MONTHLY_ANALYTICS, MONTH);
    let scheduled_ms = MONTH.end().timestamp_millis();
    let finalize = ReportJob::single(&run_id, Some(MONTH), scheduled_ms, ReportWork::MonthlyFinalize);
    let injected = stack.inject_raw("reports", &[finalize.encode()]);
    assert!(injected.is_success(), "{} {}", injected.status, injected.body);

    let listed = wait_until("the monthly report of May 2035 is written", SETTLE, || {
        let listing = stack.get_json(&prefix);
        listing["objects"].get(0).cloned().ok_or(listing)
    });
    let size = listed["size"].as_u64().expect("a size");
    let etag = listed["etag"].as_str().expect("an etag");
    assert!(size > R2_PART_MIN_BYTES, "{size} bytes fit one part: the upload was not multipart");
    let parts = size.div_ceil(R2_PART_MIN_BYTES);
    assert!(etag.ends_with(&format!("-{parts}")), "etag {etag:?}: not completed from {parts} parts of {R2_PART_MIN_BYTES} bytes");

    let read = stack.send(Method::GET, &format!("/api/results/{key}"), None, true);
    assert_eq!(read.status, 200, "{}", &read.body[..read.body.len().min(300)]);
    assert_eq!(read.body.len() as u64, size, "the object read back is the whole object");
    let report: Value = serde_json::from_str(&read.body).expect("the whole report parses as JSON");
    let customers: Vec<&str> =
        report["customers"].as_array().expect("the customers' sections").iter().map(|s| s["customer_id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..CUSTOMERS).map(|i| format!("mp-{i:05}")).collect();
    assert_eq!(customers, expected, "every section once, in customer order, across the parts' seams");
    assert_eq!(report["month"], serde_json::json!(MONTH.label()), "{}", &read.body[..300]);
    println!("May 2035's report: {size} bytes in {parts} parts, etag {etag}, {} customers", customers.len());
}

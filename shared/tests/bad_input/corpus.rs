//! Replays the kept corpus. A directory holds one input per file and `expected.txt`, whose
//! lines are `file<TAB>ok` or `file<TAB>fragment` (wire bodies: `file<TAB>permanent|transient<TAB>fragment`);
//! a `.jsonl` table holds one `[input, expected]` per line. Every file must be in its
//! manifest and every manifest line must name a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use code24_shared::auth::{authorize, Access};
use code24_shared::dead_letters::query::DeadLetterFilter;
use code24_shared::dead_letters::selection::Selection;
use code24_shared::error::ErrorClass;
use code24_shared::ids::CustomerId;
use code24_shared::reports::revenue::BillingEvent;
use code24_shared::site::{SiteRegistration, SiteUrl};
use code24_shared::wire::OptimizeJob;

pub(crate) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The entries of one corpus directory: (file name, raw bytes, expectation columns).
pub(crate) fn entries(dir: &str) -> Vec<(String, Vec<u8>, Vec<String>)> {
    let dir = corpus_dir().join(dir);
    let manifest = std::fs::read_to_string(dir.join("expected.txt")).expect("every corpus directory has expected.txt");
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split('\t').map(str::to_owned);
        let name = cols.next().expect("a file name");
        assert!(expected.insert(name.clone(), cols.collect()).is_none(), "{name} is listed twice in {}", dir.display());
    }
    let mut out = Vec::new();
    for file in std::fs::read_dir(&dir).expect("corpus directory") {
        let name = file.expect("entry").file_name().to_string_lossy().into_owned();
        if name == "expected.txt" {
            continue;
        }
        let columns = expected.remove(&name).unwrap_or_else(|| panic!("{name} in {} has no line in expected.txt", dir.display()));
        out.push((name.clone(), std::fs::read(dir.join(&name)).expect("readable"), columns));
    }
    assert!(expected.is_empty(), "expected.txt of {} names missing files: {:?}", dir.display(), expected.keys());
    out.sort();
    out
}

/// One `[input, expected]` table; the input may be `null`.
fn table(file: &str) -> Vec<(Option<String>, String)> {
    let text = std::fs::read_to_string(corpus_dir().join(file)).expect("corpus table");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<(Option<String>, String)>(l).unwrap_or_else(|e| panic!("{file}: {l}: {e}")))
        .collect()
}

/// Checks one text decoder's outcome against `ok` or a fragment of its refusal.
fn check(what: &str, got: Result<(), String>, expected: &str) {
    match (got, expected) {
        (Ok(()), "ok") => {}
        (Err(e), fragment) if fragment != "ok" => {
            assert!(e.contains(fragment), "{what}: refused as {e:?}, expected a message with {fragment:?}");
            assert!(e.len() <= 1_024, "{what}: a refusal stays short, got {} bytes", e.len());
        }
        (got, _) => panic!("{what}: got {got:?}, expected {expected}"),
    }
}

/// A body file as text, or the refusal the API gives a body that is not UTF-8.
pub(crate) fn text(bytes: &[u8]) -> Result<String, String> {
    code24_shared::api::body_text(bytes.to_vec()).map_err(|(_, m)| m)
}

#[test]
fn wire_corpus() {
    let entries = entries("wire");
    for (name, bytes, cols) in &entries {
        let body = match text(bytes) {
            Ok(body) => body,
            Err(e) => {
                check(name, Err(e), &cols[1]);
                // A queue hands the consumer text: the lossy form must be refused too.
                String::from_utf8_lossy(bytes).into_owned()
            }
        };
        let got = OptimizeJob::decode(&body);
        match cols[0].as_str() {
            "ok" => {
                let job = got.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(OptimizeJob::decode(&job.encode()).as_ref(), Ok(&job), "{name} round trips");
            }
            class => {
                let e = got.expect_err(name);
                let expected = if class == "transient" { ErrorClass::Transient } else { ErrorClass::Permanent };
                assert_eq!(e.class, expected, "{name}: {}", e.message);
                if text(bytes).is_ok() {
                    check(name, Err(e.message), &cols[1]);
                }
            }
        }
    }
    eprintln!("wire corpus: {} bodies replayed", entries.len());
}

#[test]
fn admin_body_corpus() {
    type Decoder = fn(&str) -> Result<(), String>;
    let decoders: [(&str, Decoder); 3] = [
        ("sites", |b| SiteRegistration::decode(b).map(|_| ())),
        ("selection", |b| Selection::decode(b).map(|_| ())),
        ("billing", |b| BillingEvent::decode(b).map(|_| ())),
    ];
    let mut n = 0;
    for (dir, decode) in decoders {
        for (name, bytes, cols) in entries(dir) {
            let got = text(&bytes).and_then(|body| decode(&body));
            check(&format!("{dir}/{name}"), got, &cols[0]);
            n += 1;
        }
    }
    eprintln!("admin body corpus: {n} bodies replayed");
}

#[test]
fn table_corpus() {
    let mut n = 0;
    for (input, expected) in table("customer_ids.jsonl") {
        let input = input.expect("an id");
        check(&format!("customer id {input:?}"), CustomerId::parse(&input).map(|_| ()).map_err(|e| e.to_string()), &expected);
        n += 1;
    }
    for (input, expected) in table("site_urls.jsonl") {
        let input = input.expect("a URL");
        check(&format!("site URL {input:?}"), SiteUrl::parse(&input).map(|_| ()), &expected);
        n += 1;
    }
    for (input, expected) in table("dead_letter_queries.jsonl") {
        let query = input.expect("a query");
        let pairs: Vec<(String, String)> = url_pairs(&query);
        let got = DeadLetterFilter::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["limit", "cursor"]);
        check(&format!("query {query:?}"), got.map(|_| ()), &expected);
        n += 1;
    }
    for (header, expected) in table("authorization.jsonl") {
        let want = if expected == "allowed" { Access::Allowed } else { Access::Refused };
        assert_eq!(authorize(header.as_deref(), "test-secret"), want, "{header:?}");
        assert_eq!(authorize(header.as_deref(), ""), Access::Disabled, "{header:?} with no secret");
        n += 1;
    }
    eprintln!("table corpus: {n} inputs replayed");
}

/// Splits and percent-decodes a query string the way the `url` crate does for the Worker.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() && u8::from_str_radix(&s[i + 1..i + 3], 16).is_ok() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("checked"));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

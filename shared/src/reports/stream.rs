//! Report objects written as a stream, so that a report listing every customer never sits
//! whole in a Worker's 128 MB: the per-customer list is serialized item by item as its pages are
//! read, and the bytes leave in parts (an R2 multipart upload) once they outgrow one part.
//! Sans-IO: [`ArraySplice`] says where the items go in a report's pretty JSON, [`Parts`] cuts
//! the bytes into parts; a driver (`pipeline::reports::streamed`) reads and uploads.
//!
//! Written whole (it fits one part), the object is byte for byte what `serde_json::to_vec_pretty`
//! of the whole report would give; written in parts, it is the same JSON with spaces after the
//! list's `[` (see below). The tests compare both, so readers see no difference.
//!
//! A report's head (its totals) is known only after the last page, yet comes first. R2 takes
//! parts in any order, so the first part is held back: the items' first bytes are kept until
//! the end, then sent behind the head as part 1, while every later part is sent as soon as it
//! is full. R2 (and the local R2) completes an upload only if every part but the last has the
//! same size, so part 1 must be exactly a part too, although the head's length is known only at
//! the end: part 1 holds [`Parts::head_reserve`] bytes for the head, which is padded with
//! spaces (valid JSON whitespace) to fill them. Found by the multipart test on the local R2,
//! which refused the first version's longer part 1. Memory is thus bounded by two parts and one
//! page, whatever the number of customers.

use serde::Serialize;

/// Where a report's item list goes: the report serialized with that list empty, cut at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArraySplice {
    /// Everything up to and including the list's `[`.
    head: Vec<u8>,
    /// The list's `]` and everything after it.
    tail: Vec<u8>,
    /// The indentation of the list's key; items are indented one level (two spaces) deeper.
    indent: usize,
}

/// Why a report cannot be streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError(pub String);

impl ArraySplice {
    /// Cuts the pretty JSON of `report`, whose list `key` is empty, at that list: the head ends
    /// with its `[`, the tail (its `]` and any fields after it) follows the items. The last empty
    /// list of that name is the one cut. Fails if there is none.
    pub fn of<T: Serialize>(report: &T, key: &str) -> Result<Self, StreamError> {
        let text = serde_json::to_vec_pretty(report).map_err(|e| StreamError(format!("report does not serialize: {e}")))?;
        let marker = format!("\"{key}\": []");
        let at = find_last(&text, marker.as_bytes()).ok_or_else(|| StreamError(format!("no empty list {key} in the report")))?;
        let line_start = text[..at].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let open = at + marker.len() - 1;
        Ok(Self { head: text[..open].to_vec(), tail: text[open..].to_vec(), indent: at - line_start })
    }

    /// A splice of nothing, a placeholder.
    pub fn empty() -> Self {
        Self { head: Vec::new(), tail: Vec::new(), indent: 0 }
    }

    /// The pretty JSON of one item, each line indented to its place in the list.
    pub fn item<T: Serialize>(&self, item: &T) -> Result<Vec<u8>, StreamError> {
        let text = serde_json::to_vec_pretty(item).map_err(|e| StreamError(format!("item does not serialize: {e}")))?;
        let pad = self.indent + 2;
        let mut out = Vec::with_capacity(text.len() + pad * 8);
        // A JSON string never holds a raw newline, so every newline is a line of the layout.
        for b in text {
            out.push(b);
            if b == b'\n' {
                out.extend(std::iter::repeat_n(b' ', pad));
            }
        }
        Ok(out)
    }

    /// The bytes that go before the `index`-th item (0-based) of the list.
    pub fn separator(&self, index: u64) -> Vec<u8> {
        let mut s = if index == 0 { b"\n".to_vec() } else { b",\n".to_vec() };
        s.extend(std::iter::repeat_n(b' ', self.indent + 2));
        s
    }

    /// The head, everything up to the first item.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The bytes after the last of `items` items.
    pub fn tail(&self, items: u64) -> Vec<u8> {
        let mut t = Vec::with_capacity(self.tail.len() + self.indent + 1);
        if items > 0 {
            t.push(b'\n');
            t.extend(std::iter::repeat_n(b' ', self.indent));
        }
        t.extend_from_slice(&self.tail);
        t
    }
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// One part ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// From 1; part 1 is the held-back head part, sent last.
    pub number: u16,
    pub body: Vec<u8>,
}

/// How a finished object is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// It fits one part: one plain write of the whole body.
    Whole(Vec<u8>),
    /// Parts were sent: these remain (part 1 with the head, and the last one if any bytes are
    /// left), then the upload is completed with every part.
    Parts(Vec<Part>),
}

/// The head room of part 1 for a part of 5 MiB: a report's head (its totals, a forecast) is a
/// few kilobytes.
pub const HEAD_RESERVE_BYTES: usize = 64 * 1024;

/// The cutting of an object's body into parts of exactly `part_bytes` (the last excepted).
#[derive(Debug)]
pub struct Parts {
    part_bytes: usize,
    /// The body's first bytes, which become part 1 behind the head.
    held: Vec<u8>,
    /// Bytes after the held ones, not yet in a part.
    current: Vec<u8>,
    /// The number of the next part cut (part 1 is the held one).
    next: u16,
}

impl Parts {
    /// Parts of at least `part_bytes`: the store's smallest (R2's is
    /// [`crate::limits::R2_PART_MIN_BYTES`]).
    pub fn new(part_bytes: usize) -> Self {
        Self { part_bytes: part_bytes.max(2), held: Vec::new(), current: Vec::new(), next: 2 }
    }

    /// The bytes at the front of part 1 kept for the head: [`HEAD_RESERVE_BYTES`], or half a
    /// part when parts are smaller (tests).
    pub fn head_reserve(&self) -> usize {
        HEAD_RESERVE_BYTES.min(self.part_bytes / 2)
    }

    /// Appends body bytes; answers the parts now full, to send now (each exactly `part_bytes`),
    /// so nothing beyond the held first part and one part's worth is ever kept.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Part> {
        let room = (self.part_bytes - self.head_reserve()).saturating_sub(self.held.len()).min(bytes.len());
        self.held.extend_from_slice(&bytes[..room]);
        bytes = &bytes[room..];
        let mut full = Vec::new();
        while !bytes.is_empty() {
            let take = (self.part_bytes - self.current.len()).min(bytes.len());
            self.current.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.current.len() == self.part_bytes {
                full.push(Part { number: self.next, body: std::mem::replace(&mut self.current, Vec::with_capacity(self.part_bytes)) });
                self.next += 1;
            }
        }
        full
    }

    /// Whether any part was cut, so the object needs a multipart upload.
    pub fn started(&self) -> bool {
        self.next > 2
    }

    /// Bytes held now (for the memory model's check).
    pub fn held_bytes(&self) -> usize {
        self.held.len() + self.current.len()
    }

    /// The rest of the object, given its head and tail: part 1 (the head padded to the reserve,
    /// then the held bytes: exactly a part), and the last bytes with the tail, cut at the part
    /// size so that no part is longer than the others. A head longer than the reserve cannot be
    /// written in equal parts.
    pub fn finish(mut self, head: &[u8], tail: &[u8]) -> Result<Finished, StreamError> {
        let mut first = Vec::with_capacity(self.part_bytes.max(head.len() + self.held.len()));
        first.extend_from_slice(head);
        if !self.started() {
            first.append(&mut self.held);
            first.append(&mut self.current);
            first.extend_from_slice(tail);
            return Ok(Finished::Whole(first));
        }
        let reserve = self.head_reserve();
        if head.len() > reserve {
            return Err(StreamError(format!("a report head of {} bytes does not fit the {reserve} bytes part 1 keeps for it", head.len())));
        }
        first.resize(reserve, b' ');
        first.append(&mut self.held);
        let mut rest = vec![Part { number: 1, body: first }];
        self.current.extend_from_slice(tail);
        rest.extend((self.next..).zip(self.current.chunks(self.part_bytes)).map(|(number, chunk)| Part { number, body: chunk.to_vec() }));
        Ok(Finished::Parts(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, Clone)]
    struct Item {
        id: String,
        n: [Option<f64>; 2],
    }

    #[derive(Serialize, Clone)]
    struct Inner {
        total: u64,
        items: Vec<Item>,
    }

    #[derive(Serialize, Clone)]
    struct Report {
        v: u32,
        items: Vec<u64>,
        inner: Option<Inner>,
        /// A field after the list: it goes to the tail.
        after: Vec<u8>,
    }

    fn streamed(r: &Report, items: &[Item]) -> Vec<u8> {
        let mut empty = r.clone();
        empty.inner.as_mut().unwrap().items.clear();
        let splice = ArraySplice::of(&empty, "items").unwrap();
        let mut out = splice.head().to_vec();
        for (i, item) in items.iter().enumerate() {
            out.extend(splice.separator(i as u64));
            out.extend(splice.item(item).unwrap());
        }
        out.extend(splice.tail(items.len() as u64));
        out
    }

    #[test]
    fn a_spliced_list_is_byte_for_byte_the_whole_serialization() {
        let item = |i: u64| Item { id: format!("c{i}\n\"x\""), n: [Some(i as f64 / 3.0), None] };
        for n in [0, 1, 2, 7] {
            let items: Vec<Item> = (0..n).map(item).collect();
            let r = Report { v: 1, items: vec![], inner: Some(Inner { total: n, items: items.clone() }), after: vec![1, 2] };
            let whole = serde_json::to_vec_pretty(&r).unwrap();
            assert_eq!(String::from_utf8(streamed(&r, &items)).unwrap(), String::from_utf8(whole).unwrap(), "{n} items");
        }
        // The last empty list of the name is the one cut; a report without it cannot be streamed.
        assert!(ArraySplice::of(&Report { v: 1, items: vec![], inner: None, after: vec![] }, "nope").is_err());
    }

    #[test]
    fn parts_hold_the_first_back_and_cut_every_part_to_the_same_size() {
        let mut parts = Parts::new(10);
        assert_eq!(parts.head_reserve(), 5);
        let mut sent = Vec::new();
        for chunk in [&b"aaaa"[..], b"bbbbbbb", b"cccccc", b"ddddd", b"eeeeeeeeeeeee"] {
            sent.extend(parts.push(chunk));
        }
        let part = |number, body: &[u8]| Part { number, body: body.to_vec() };
        assert_eq!(sent, [part(2, b"bbbbbbcccc"), part(3, b"ccdddddeee"), part(4, b"eeeeeeeeee")]);
        let Finished::Parts(rest) = parts.finish(b"HH", b"TT").unwrap() else { panic!("parts were cut") };
        // Part 1 is the head padded to the reserve, then the held bytes: a whole part, as R2
        // requires of every part but the last.
        assert_eq!(rest, [part(1, b"HH   aaaab"), part(5, b"TT")]);
        // A tail that overflows the last part is cut too: no part longer than the others.
        let mut full = Parts::new(10);
        assert_eq!(full.push(b"aaaaabbbbbbbbbbccccccccc"), [part(2, b"bbbbbbbbbb")]);
        let Finished::Parts(rest) = full.finish(b"H", b"TTT").unwrap() else { panic!("parts were cut") };
        assert_eq!(rest, [part(1, b"H    aaaaa"), part(3, b"cccccccccT"), part(4, b"TT")]);
        // A head longer than the reserve cannot be written in equal parts.
        let mut long = Parts::new(10);
        long.push(b"aaaaaaaaaaaaaaaaaaaa");
        assert!(long.finish(b"HHHHHH", b"T").is_err());
        // Small bodies are written whole, byte for byte.
        let mut small = Parts::new(10);
        assert_eq!(small.push(b"abc"), []);
        assert_eq!(small.finish(b"H", b"T"), Ok(Finished::Whole(b"HabcT".to_vec())));
    }
}
